//! Owners files in the store (migration 0019): one per suite, replaced by
//! each upload. Owners are resolved when read (tests, flaky lists, clusters)
//! and when an event is written, from the file parsed once per version.

use crate::error::StoreError;
use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use verdict_core::owners::{OwnersFile, test_path};

/// A suite's owners file as uploaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredOwners {
    pub suite_id: i64,
    /// 1 for the first file, one more for each that replaced it.
    pub version: i64,
    pub content: String,
    pub uploaded_at_ms: i64,
    /// Which credential uploaded it (`upload token`, `manage token`, `cli`).
    pub uploaded_by: String,
}

/// A test and the fields its owners' path is made from.
#[derive(Debug, Clone, PartialEq)]
pub struct TestPath {
    pub id: i64,
    pub file_name: Option<String>,
    pub location: Option<String>,
}

impl TestPath {
    pub fn path(&self) -> Option<&str> {
        test_path(self.file_name.as_deref(), self.location.as_deref())
    }
}

pub(crate) const OWNERS_FILE: &str = "SELECT suite_id, version, content, uploaded_at, uploaded_by FROM owner_files WHERE suite_id = ?1";
/// ?1 suite, ?2 content, ?3 now, ?4 by: the new file, its version one more than the last.
pub(crate) const SET_OWNERS_FILE: &str = "INSERT INTO owner_files (suite_id, version, content, uploaded_at, uploaded_by)
     VALUES (?1, 1, ?2, ?3, ?4)
     ON CONFLICT (suite_id) DO UPDATE SET version = owner_files.version + 1, content = excluded.content,
       uploaded_at = excluded.uploaded_at, uploaded_by = excluded.uploaded_by
     RETURNING version";
pub(crate) const TEST_PATHS: &str = "SELECT id, file_name, location FROM tests WHERE suite_id = ?1 ORDER BY id";

#[async_trait]
pub trait OwnersStore: Send + Sync {
    /// Keep `content` as the suite's owners file (it was parsed first); its version.
    async fn set_owners_file(&self, suite_id: i64, content: &str, by: &str, now_ms: i64) -> Result<i64, StoreError>;
    async fn owners_file(&self, suite_id: i64) -> Result<Option<StoredOwners>, StoreError>;
    /// Every test of the suite with its path fields (for owner filters).
    async fn test_paths(&self, suite_id: i64) -> Result<Vec<TestPath>, StoreError>;
}

/// Parsed files by (suite, version, content length), a few kept: several
/// stores may share a process (tests), so the content's length is in the key.
type ParsedKey = (i64, i64, usize);
static PARSED: LazyLock<Mutex<HashMap<ParsedKey, Arc<OwnersFile>>>> = LazyLock::new(Mutex::default);
const PARSED_KEPT: usize = 64;

/// The stored file parsed (once per version); a file that no longer parses
/// (a later release with stricter rules) owns nothing.
pub fn parsed(stored: &StoredOwners) -> Arc<OwnersFile> {
    let key = (stored.suite_id, stored.version, stored.content.len());
    if let Some(f) = PARSED.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return f.clone();
    }
    let file = Arc::new(OwnersFile::parse(stored.content.as_bytes()).unwrap_or_else(|_| OwnersFile::parse(b"").expect("empty parses")));
    let mut cache = PARSED.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= PARSED_KEPT {
        cache.clear();
    }
    cache.insert(key, file.clone());
    file
}

/// Set an event's `owners`: its test's owners (`test`), or every owner of the
/// tests it lists (`failed_tests`, or a cluster's `tests`), each once, in order of appearance.
pub(crate) fn fill_event_owners(data: &mut Value, file: &OwnersFile) {
    let list = data["failed_tests"].as_array().or_else(|| data["tests"].as_array());
    let tests: Vec<&Value> = match (&data["test"], list) {
        (t @ Value::Object(_), _) => vec![t],
        (_, Some(list)) => list.iter().collect(),
        _ => vec![],
    };
    let owners = file.owners_of_all(tests.iter().filter_map(|t| test_path(t["file_name"].as_str(), t["location"].as_str())));
    data["owners"] = Value::from(owners);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_take_their_tests_owners() {
        let file = OwnersFile::parse(b"* @all\n/spec/payments/ payments billing\n*.py @py\n").unwrap();
        let mut state = json!({"test": {"file_name": "./spec/payments/a_spec.rb", "location": null}, "owners": []});
        fill_event_owners(&mut state, &file);
        assert_eq!(state["owners"], json!(["payments", "billing"]));
        let mut run =
            json!({"failed_tests": [{"file_name": null, "location": "tests/test_a.py:3"}, {"location": "README"}, {"location": "b.py:1"}]});
        fill_event_owners(&mut run, &file);
        assert_eq!(run["owners"], json!(["@py", "@all"]));
        let mut cluster = json!({"cluster": {"id": "x"}, "owners": []});
        fill_event_owners(&mut cluster, &file);
        assert_eq!(cluster["owners"], json!([]));
    }
}
