//! Every ReSim ID is a UUID, and Verdict's rows have integer IDs. The UUIDs
//! are **derived**, not stored: a version-8 (custom) UUID carries the row's
//! kind and integer IDs, plus 14 bits of the server's project UUID, so the
//! same row has the same UUID on every node and in every session, an ID of
//! another Verdict server (or a made-up one) is refused as unknown, and a
//! request's IDs decode without a lookup table.
//!
//! Layout (bytes): 0..6 `a` (48 bits), 6 `0x80 | kind`, 7 tag high byte,
//! 8 `0x80 | tag low 6 bits` (the RFC 9562 variant), 9..16 `b` (56 bits).
//! A branch is a name, not an integer: its UUID is a SHA-256 of the suite
//! and the name in `a` and `b`, matched by hashing the suite's branches.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What a derived UUID names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A Verdict suite: a ReSim test suite (`b` = suite id).
    Suite = 1,
    /// A run: a batch (`b` = run id).
    Batch = 2,
    /// One test's results in one run: a job (`a` = run id, `b` = test id).
    Job = 3,
    /// A test: an experience (`b` = test id).
    Experience = 4,
    /// A commit, named by the first run that carried it (`b` = run id); a
    /// run without a commit is its own build.
    Build = 5,
    /// A stored report (`b` = report id).
    Report = 6,
    /// A (suite, branch): `a`, `b` from a hash.
    Branch = 7,
    /// The suite's system: ReSim ties suites and builds to one (`b` = suite id).
    System = 8,
    /// The one "metrics build" Verdict reports name: Verdict itself.
    MetricsBuild = 9,
}

impl Kind {
    fn from_nibble(n: u8) -> Option<Kind> {
        use Kind::*;
        [Suite, Batch, Job, Experience, Build, Report, Branch, System, MetricsBuild].into_iter().find(|k| *k as u8 == n)
    }
}

const A_MAX: i64 = (1 << 48) - 1;
const B_MAX: i64 = (1 << 56) - 1;

/// The UUIDs of one server's project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResimIds {
    project: Uuid,
    tag: u16,
}

/// A decoded UUID: its kind and its two integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub kind: Kind,
    pub a: i64,
    pub b: i64,
}

impl ResimIds {
    pub fn new(project: Uuid) -> Self {
        let p = project.as_bytes();
        ResimIds { project, tag: (u16::from(p[0]) << 6 | u16::from(p[1] >> 2)) & 0x3fff }
    }

    pub fn project(&self) -> Uuid {
        self.project
    }

    /// The UUID of a row. IDs past 48 (`a`) or 56 (`b`) bits cannot be
    /// encoded; no store reaches them (2^48 runs).
    pub fn encode(&self, kind: Kind, a: i64, b: i64) -> Uuid {
        debug_assert!((0..=A_MAX).contains(&a) && (0..=B_MAX).contains(&b), "ids out of range");
        let (a, b) = ((a & A_MAX) as u64, (b & B_MAX) as u64);
        let mut bytes = [0u8; 16];
        bytes[0..6].copy_from_slice(&a.to_be_bytes()[2..8]);
        bytes[6] = 0x80 | kind as u8;
        bytes[7] = (self.tag >> 6) as u8;
        bytes[8] = 0x80 | (self.tag & 0x3f) as u8;
        bytes[9..16].copy_from_slice(&b.to_be_bytes()[1..8]);
        Uuid::from_bytes(bytes)
    }

    pub fn of(&self, kind: Kind, id: i64) -> Uuid {
        self.encode(kind, 0, id)
    }

    pub fn job(&self, run_id: i64, test_id: i64) -> Uuid {
        self.encode(Kind::Job, run_id, test_id)
    }

    pub fn branch(&self, suite_id: i64, branch: &str) -> Uuid {
        let mut h = Sha256::new();
        h.update(suite_id.to_be_bytes());
        h.update(branch.as_bytes());
        let d = h.finalize();
        let a = i64::from_be_bytes([0, 0, d[0], d[1], d[2], d[3], d[4], d[5]]);
        let b = i64::from_be_bytes([0, d[6], d[7], d[8], d[9], d[10], d[11], d[12]]);
        self.encode(Kind::Branch, a, b)
    }

    /// The kind and integers of one of this project's UUIDs; `None` for any
    /// other UUID (another server's, a random one).
    pub fn decode(&self, id: Uuid) -> Option<Decoded> {
        let bytes = id.as_bytes();
        if bytes[6] >> 4 != 8 || bytes[8] >> 6 != 2 {
            return None;
        }
        let tag = u16::from(bytes[7]) << 6 | u16::from(bytes[8] & 0x3f);
        if tag != self.tag {
            return None;
        }
        let kind = Kind::from_nibble(bytes[6] & 0x0f)?;
        let mut a = [0u8; 8];
        a[2..8].copy_from_slice(&bytes[0..6]);
        let mut b = [0u8; 8];
        b[1..8].copy_from_slice(&bytes[9..16]);
        Some(Decoded { kind, a: i64::from_be_bytes(a), b: i64::from_be_bytes(b) })
    }

    /// The integer ID behind a UUID of `kind` (its `b`), if it is one.
    pub fn id_of(&self, kind: Kind, id: Uuid) -> Option<i64> {
        self.decode(id).filter(|d| d.kind == kind && (kind == Kind::Job || d.a == 0)).map(|d| d.b)
    }

    /// The (run, test) behind a job UUID.
    pub fn job_of(&self, id: Uuid) -> Option<(i64, i64)> {
        self.decode(id).filter(|d| d.kind == Kind::Job).map(|d| (d.a, d.b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> ResimIds {
        ResimIds::new(Uuid::parse_str("96147107-2a43-4c1b-9a55-0f0d6b3a1c2e").unwrap())
    }

    #[test]
    fn every_kind_round_trips_and_is_a_valid_rfc_uuid() {
        let ids = ids();
        for (kind, a, b) in [(Kind::Suite, 0, 1), (Kind::Batch, 0, B_MAX), (Kind::Job, A_MAX, 77), (Kind::Report, 0, 3)] {
            let u = ids.encode(kind, a, b);
            assert_eq!(u.get_version_num(), 8, "{u}");
            assert_eq!(u.get_variant(), uuid::Variant::RFC4122, "{u}");
            assert_eq!(ids.decode(u), Some(Decoded { kind, a, b }));
        }
        assert_eq!(ids.job_of(ids.job(12, 34)), Some((12, 34)));
        assert_eq!(ids.id_of(Kind::Batch, ids.of(Kind::Batch, 9)), Some(9));
    }

    #[test]
    fn a_uuid_of_another_kind_or_project_or_a_random_one_is_unknown() {
        let ids = ids();
        let other = ResimIds::new(Uuid::parse_str("00000000-0000-4000-8000-000000000000").unwrap());
        let batch = ids.of(Kind::Batch, 9);
        assert_eq!(ids.id_of(Kind::Suite, batch), None);
        assert_eq!(other.decode(batch), None);
        assert_eq!(ids.decode(Uuid::parse_str("ff11c28b-cb7f-5792-8e48-cfdeaada45b3").unwrap()), None);
        // A batch UUID with a nonzero `a` is not one Verdict made.
        assert_eq!(ids.id_of(Kind::Batch, ids.encode(Kind::Batch, 1, 9)), None);
    }

    #[test]
    fn branches_are_stable_and_differ_by_suite_and_name() {
        let ids = ids();
        assert_eq!(ids.branch(1, "main"), ids.branch(1, "main"));
        assert_ne!(ids.branch(1, "main"), ids.branch(2, "main"));
        assert_ne!(ids.branch(1, "main"), ids.branch(1, "mainx"));
        assert_eq!(ids.decode(ids.branch(1, "main")).unwrap().kind, Kind::Branch);
    }
}
