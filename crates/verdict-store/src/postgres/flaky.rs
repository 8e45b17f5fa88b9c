//! Flaky and broken tests on PostgreSQL (see `crate::flaky`). Several
//! servers may run the step at once: each takes a run's queue rows with
//! `FOR UPDATE SKIP LOCKED` and its suite with a transaction-scoped advisory
//! lock, so one server analyses a suite at a time, oldest run first.

use super::reads::{TEST_COLS, outcome, test_row};
use super::{PgStore, dollars};
use crate::error::StoreError;
use crate::flaky::*;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap, HashSet};
use tokio_postgres::{GenericClient, Row};
use verdict_core::flaky::{Settings, Track};

/// The advisory lock space of the analysis step (a suite id is the key within it).
const LOCK_SPACE: i32 = 0x7665_7264; // "verd"

async fn settings(c: &impl GenericClient, suite_id: i64) -> Result<Settings, StoreError> {
    match c.query_opt("SELECT flaky_settings FROM suites WHERE id = $1", &[&suite_id]).await? {
        None => Err(StoreError::NotFound(format!("no suite {suite_id}"))),
        Some(r) => Ok(settings_of(r.get::<_, Option<String>>(0).as_deref())),
    }
}

async fn analyse_due(c: &mut deadpool_postgres::Object, now_ms: i64) -> Result<Option<i64>, StoreError> {
    let candidates = c.query(&dollars(DUE_SQL), &[&DUE_CANDIDATES]).await?;
    for cand in candidates {
        let (run_id, suite_id, newest): (i64, i64, i64) = (cand.get(0), cand.get(1), cand.get(2));
        if newest + settings_of(cand.get::<_, Option<String>>(3).as_deref()).settle_secs * 1000 > now_ms {
            continue;
        }
        let tx = c.transaction().await?;
        let locked: bool = tx.query_one("SELECT pg_try_advisory_xact_lock($1, $2::int)", &[&LOCK_SPACE, &(suite_id as i32)]).await?.get(0);
        if !locked {
            continue; // another server is analysing this suite
        }
        let queued = tx
            .query("SELECT upload_id, queued_at, seq FROM analysis_queue WHERE run_id = $1 ORDER BY seq FOR UPDATE SKIP LOCKED", &[&run_id])
            .await?;
        if queued.is_empty() {
            continue; // taken meanwhile
        }
        let uploads: Vec<String> = queued.iter().map(|r| r.get(0)).collect();
        let at_ms = queued.iter().map(|r| r.get::<_, i64>(1)).max().unwrap_or(newest);
        let first_at = queued.iter().map(|r| r.get::<_, i64>(1)).min().unwrap_or(newest);
        // Exactly the rows taken: an upload of this run committed meanwhile stays queued for the next part.
        let seqs: Vec<i64> = queued.iter().map(|r| r.get(2)).collect();
        analyse_run(&tx, run_id, suite_id, (first_at, at_ms), &uploads, now_ms).await?;
        tx.execute("DELETE FROM analysis_queue WHERE seq = ANY($1)", &[&seqs]).await?;
        tx.commit().await?;
        return Ok(Some(run_id));
    }
    Ok(None)
}

/// Replay on quiet rows the parts they skipped (see `crate::flaky::catch_up`).
async fn catch_up_rows(
    c: &impl GenericClient,
    suite_id: i64,
    need: &[(i64, String, i64)],
    tracks: &mut HashMap<(i64, String), Track>,
    settings: &Settings,
    until: i64,
) -> Result<Vec<(i64, String, verdict_core::flaky::Transition)>, StoreError> {
    let Some(since) = need.iter().map(|(_, _, as_of)| *as_of).min() else { return Ok(Vec::new()) };
    let parts: Vec<(RecordedPart, bool)> = c
        .query(&dollars(PARTS_SINCE), &[&suite_id, &since, &until])
        .await?
        .iter()
        .map(|r| {
            let part = RecordedPart {
                n: r.get(0),
                run_id: r.get(1),
                branch: r.get(2),
                at_ms: r.get(3),
                first_at: r.get(4),
                infra: r.get::<_, i64>(5) != 0,
            };
            (part, r.get::<_, i64>(6) != 0)
        })
        .collect();
    let ids: Vec<i64> = need.iter().map(|(t, _, _)| *t).collect::<HashSet<_>>().into_iter().collect();
    let plan = ReplayReads::new(&parts);
    let mut rows = Vec::new();
    if !plan.whole_runs.is_empty() {
        // A part that is its whole run: the run's statuses say which tests it had.
        let runs: Vec<i64> = plan.whole_runs.keys().copied().collect();
        for r in
            c.query("SELECT run_id, test_id, status FROM run_tests WHERE run_id = ANY($1) AND test_id = ANY($2)", &[&runs, &ids]).await?
        {
            rows.extend(plan.rows_of(r.get(0), r.get(1), i64::from(r.get::<_, i16>(2))));
        }
    }
    if let Some(oldest) = plan.oldest_other {
        // Executions are no older than their upload, and a part's uploads no older than its first_at.
        let found = c
            .query(
                "SELECT e.test_id, u.part_n, e.outcome, e.attempt FROM executions e JOIN uploads u ON u.id = e.upload_id
                 WHERE e.test_id = ANY($1) AND e.created_at >= $2 AND u.part_n = ANY($3) AND u.part_infra = 0 AND e.outcome IN (0, 1)",
                &[&ids, &oldest, &plan.other_parts],
            )
            .await?;
        rows.extend(found.iter().map(|r| ReplayRow {
            test_id: r.get(0),
            n: r.get(1),
            passed: outcome(r.get(2)) == verdict_core::Outcome::Passed,
            attempt: i64::from(r.get::<_, i32>(3)),
        }));
    }
    let parts: Vec<RecordedPart> = parts.into_iter().map(|(p, _)| p).collect();
    Ok(catch_up(tracks, need, &parts, &rows, settings))
}

async fn analyse_run(
    tx: &tokio_postgres::Transaction<'_>,
    run_id: i64,
    suite_id: i64,
    (first_at, at_ms): (i64, i64),
    uploads: &[String],
    now_ms: i64,
) -> Result<(), StoreError> {
    let settings = settings(tx, suite_id).await?;
    let r = tx
        .query_one(
            "SELECT r.branch, r.commit_sha, s.default_branch FROM runs r JOIN suites s ON s.id = r.suite_id WHERE r.id = $1",
            &[&run_id],
        )
        .await?;
    let run = PartRun { run_id, suite_id, branch: r.get(0), commit: r.get(1), default_branch: r.get(2), at_ms };
    let rows: Vec<PartRow> = tx
        .query(
            "SELECT test_id, upload_id, outcome, duration, attempt FROM executions WHERE run_id = $1 AND upload_id = ANY($2) ORDER BY id",
            &[&run_id, &uploads],
        )
        .await?
        .iter()
        .map(|r| PartRow {
            test_id: r.get(0),
            upload_id: r.get(1),
            outcome: outcome(r.get(2)),
            duration: r.get(3),
            attempt: i64::from(r.get::<_, i32>(4)),
        })
        .collect();
    let n: i64 = tx.query_one(&dollars(NEXT_PART), &[&suite_id]).await?.get(0);
    let first_of_run: bool = tx.query_one(&dollars(FIRST_OF_RUN), &[&run_id]).await?.get(0);
    let facts = PartFacts::new(&rows, &settings);
    let tracks = tracks_of(&run, &settings);
    let tests: Vec<i64> = rows.iter().map(|r| r.test_id).collect::<HashSet<_>>().into_iter().collect();
    let names: Vec<String> = tracks.iter().map(|(t, _)| t.clone()).collect();
    let mut probes: HashMap<(i64, usize), Probe> = HashMap::new();
    // A quiet row's data only if needed (below).
    for r in tx
        .query(
            "SELECT test_id, track, as_of, quiet_until, CASE WHEN quiet_until IS NULL THEN data END FROM test_tracks
             WHERE test_id = ANY($1) AND track = ANY($2)",
            &[&tests, &names],
        )
        .await?
    {
        let (t, track): (i64, String) = (r.get(0), r.get(1));
        let data = r.get::<_, Option<String>>(4).map(|d| decode_track(t, &track, &d)).transpose()?;
        let Some(ti) = names.iter().position(|n| *n == track) else { continue };
        probes.insert((t, ti), Probe { as_of: r.get(2), quiet_until: r.get(3), data });
    }
    let split = split_part(&run, &settings, &facts, &probes, n);
    let mut stored: HashMap<(i64, String), Track> =
        probes.into_iter().filter_map(|((t, ti), p)| p.data.map(|d| ((t, names[ti].clone()), d))).collect();
    if !split.catch_up.is_empty() {
        let (ct, ctr): (Vec<i64>, Vec<String>) = split.catch_up.iter().map(|(t, tr, _)| (*t, tr.clone())).unzip();
        for r in tx
            .query(
                "SELECT tt.test_id, tt.track, tt.data FROM unnest($1::bigint[], $2::text[]) AS x(t, tr)
                 JOIN test_tracks tt ON tt.test_id = x.t AND tt.track = x.tr",
                &[&ct, &ctr],
            )
            .await?
        {
            let (t, track, data): (i64, String, String) = (r.get(0), r.get(1), r.get(2));
            let decoded = decode_track(t, &track, &data)?;
            stored.insert((t, track), decoded);
        }
    }
    let caught_up = catch_up_rows(tx, suite_id, &split.catch_up, &mut stored, &settings, i64::MAX).await?;
    let mut passed_elsewhere = HashSet::new();
    let failed: Vec<i64> = failed_tests(&rows).into_iter().collect();
    if let (Some(commit), false) = (run.commit.as_deref(), failed.is_empty()) {
        let found = tx
            .query(
                "SELECT DISTINCT rt.test_id, r.branch FROM runs r JOIN run_tests rt ON rt.run_id = r.id
                 WHERE r.suite_id = $1 AND r.commit_sha = $2 AND r.id <> $3 AND rt.status & 1 = 1 AND rt.test_id = ANY($4)",
                &[&suite_id, &commit, &run_id, &failed],
            )
            .await?;
        for row in found {
            let (test, branch): (i64, Option<String>) = (row.get(0), row.get(1));
            for (track, trusted) in &tracks {
                if !trusted || branch.as_deref() == Some(track.as_str()) {
                    passed_elsewhere.insert((test, track.clone()));
                }
            }
        }
    }
    let mut plan = plan_part(&run, &settings, &facts, stored, &split.skip, &passed_elsewhere);
    plan.first_of_run = first_of_run;
    plan.events.splice(0..0, caught_up);
    let part = RecordedPart { n, run_id, branch: run.branch.clone(), at_ms, first_at, infra: plan.infra };
    let whole = first_of_run && plan.infra_uploads.is_empty();
    write_plan(tx, &run, (&part, whole), uploads, &plan, now_ms).await
}

async fn write_plan(
    tx: &tokio_postgres::Transaction<'_>,
    run: &PartRun,
    (part, whole): (&RecordedPart, bool),
    uploads: &[String],
    plan: &PartPlan,
    now_ms: i64,
) -> Result<(), StoreError> {
    tx.execute(
        &dollars(INSERT_PART),
        &[
            &run.suite_id,
            &part.n,
            &part.run_id,
            &part.branch,
            &part.at_ms,
            &part.first_at,
            &i64::from(part.infra),
            &(uploads.len() as i64),
            &i64::from(whole),
        ],
    )
    .await?;
    for u in uploads {
        tx.execute(&dollars(MARK_UPLOAD), &[u, &part.n, &i64::from(plan.infra_uploads.contains(u))]).await?;
    }
    // Column arrays, one statement per table: a part touches a few thousand rows.
    let n = plan.tracks.len();
    let (mut test, mut track, mut state, mut since, mut runs, mut flaky, mut lost, mut last, mut data, mut quiet) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for w in &plan.tracks {
        let row = &w.data;
        test.push(w.test_id);
        track.push(w.track.clone());
        state.push(row.state().name().to_owned());
        since.push(row.since_ms);
        runs.push(row.evidence.runs as i64);
        flaky.push(row.evidence.flaky_runs as i64);
        lost.push(row.evidence.ci_seconds_lost);
        last.push(row.last_flaked_ms);
        data.push(encode_track(row));
        quiet.push(w.quiet_until);
    }
    tx.execute(
        "INSERT INTO test_tracks (test_id, track, suite_id, state, since_ms, runs, flaky_runs, ci_seconds_lost, last_flaked_ms, data, updated_at,
                                  as_of, quiet_until)
         SELECT t, tr, $10, st, si, ru, fl, lo, la, da, $11, $12, qu
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::float8[], $8::bigint[], $9::text[],
                     $13::bigint[])
           AS x(t, tr, st, si, ru, fl, lo, la, da, qu)
         ON CONFLICT (test_id, track) DO UPDATE SET state = EXCLUDED.state, since_ms = EXCLUDED.since_ms, runs = EXCLUDED.runs,
           flaky_runs = EXCLUDED.flaky_runs, ci_seconds_lost = EXCLUDED.ci_seconds_lost, last_flaked_ms = EXCLUDED.last_flaked_ms,
           data = EXCLUDED.data, updated_at = EXCLUDED.updated_at, as_of = EXCLUDED.as_of, quiet_until = EXCLUDED.quiet_until",
        &[&test, &track, &state, &since, &runs, &flaky, &lost, &last, &data, &run.suite_id, &now_ms, &part.n, &quiet],
    )
    .await?;
    for (t, tr, e) in &plan.events {
        tx.execute(
            "INSERT INTO test_state_events (test_id, track, suite_id, at_ms, from_state, to_state, rule, run_id, evidence)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[t, tr, &run.suite_id, &e.at_ms, &e.from.name(), &e.to.name(), &e.rule.name(), &e.run_id, &event_evidence(e)],
        )
        .await?;
    }
    super::webhooks::emit_part(tx, run, plan, now_ms).await?;
    super::controls::apply_policy(tx, run.suite_id, plan).await?;
    let m = plan.days.len();
    let (mut dt, mut dtr, mut dd) = (Vec::with_capacity(m), Vec::with_capacity(m), Vec::with_capacity(m));
    let (mut parts, mut fl, mut fa, mut br, mut rf, mut sl) = (
        Vec::with_capacity(m),
        Vec::with_capacity(m),
        Vec::with_capacity(m),
        Vec::with_capacity(m),
        Vec::with_capacity(m),
        Vec::with_capacity(m),
    );
    for (t, tr, day, d) in &plan.days {
        dt.push(*t);
        dtr.push(tr.clone());
        dd.push(*day);
        parts.push(d.parts);
        fl.push(d.flaky);
        fa.push(d.failed);
        br.push(d.breakage);
        rf.push(d.runs_failed);
        sl.push(d.seconds_lost);
    }
    tx.execute(
        "INSERT INTO track_days (test_id, track, day, suite_id, parts, flaky, failed, breakage, runs_failed, seconds_lost)
         SELECT t, tr, d, $10, p, f, fa, b, rf, sl
         FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::float8[])
           AS x(t, tr, d, p, f, fa, b, rf, sl)
         ON CONFLICT (test_id, track, day) DO UPDATE SET parts = track_days.parts + EXCLUDED.parts, flaky = track_days.flaky + EXCLUDED.flaky,
           failed = track_days.failed + EXCLUDED.failed, breakage = track_days.breakage + EXCLUDED.breakage,
           runs_failed = track_days.runs_failed + EXCLUDED.runs_failed, seconds_lost = track_days.seconds_lost + EXCLUDED.seconds_lost",
        &[&dt, &dtr, &dd, &parts, &fl, &fa, &br, &rf, &sl, &run.suite_id],
    )
    .await?;
    tx.execute(
        "UPDATE runs SET infra = greatest(infra, $2), analyzed_at = $3 WHERE id = $1",
        &[&run.run_id, &i64::from(plan.infra), &now_ms],
    )
    .await?;
    Ok(())
}

const TRACK_COLS: &str = "tt.track, tt.state, tt.data, tt.as_of, tt.quiet_until";

/// A listed row, with its `as_of` when it is quiet (read at `at`: its `as_of`, then its `quiet_until`).
fn track_row(r: &Row, at: usize) -> Result<(TrackRow, Option<i64>), StoreError> {
    let test = test_row(r);
    let (track, state, data): (String, String, String) = (r.get(8), r.get(9), r.get(10));
    let data = decode_track(test.id, &track, &data)?;
    let quiet = r.get::<_, Option<i64>>(at + 1).map(|_| r.get(at));
    Ok((TrackRow { test, track, state: parse_state(&state), data }, quiet))
}

/// Listed rows with the quiet ones caught up (one suite's rows).
async fn caught_up(c: &impl GenericClient, mut rows: Vec<(TrackRow, Option<i64>)>) -> Result<Vec<TrackRow>, StoreError> {
    let (need, mut tracks) = quiet_listed(&rows);
    if let Some(suite_id) = rows.first().map(|(r, _)| r.test.suite_id).filter(|_| !need.is_empty()) {
        let s = settings(c, suite_id).await?;
        catch_up_rows(c, suite_id, &need, &mut tracks, &s, replay_until(&rows)).await?;
    }
    Ok(put_caught_up(&mut rows, tracks))
}

#[async_trait]
impl FlakyStore for PgStore {
    async fn flaky_settings(&self, suite_id: i64) -> Result<Settings, StoreError> {
        settings(&**self.client().await?, suite_id).await
    }

    async fn set_flaky_settings(&self, suite_id: i64, s: &Settings) -> Result<(), StoreError> {
        let json = serde_json::to_string(s).map_err(|e| StoreError::Database(e.to_string()))?;
        match self.client().await?.execute("UPDATE suites SET flaky_settings = $2 WHERE id = $1", &[&suite_id, &json]).await? {
            0 => Err(StoreError::NotFound(format!("no suite {suite_id}"))),
            _ => Ok(()),
        }
    }

    async fn analyse_due(&self, now_ms: i64) -> Result<Option<i64>, StoreError> {
        let mut c = self.client().await?;
        analyse_due(&mut c, now_ms).await
    }

    async fn requeue_suite(&self, suite_id: i64) -> Result<i64, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // The analysis step holds this lock while it writes a part of the suite.
        tx.execute("SELECT pg_advisory_xact_lock($1, $2::int)", &[&LOCK_SPACE, &(suite_id as i32)]).await?;
        let mut queued = 0;
        for sql in REQUEUE {
            queued = tx.execute(&dollars(sql), &[&suite_id]).await? as i64;
        }
        tx.execute("UPDATE runs SET infra = 0, analyzed_at = NULL WHERE suite_id = $1", &[&suite_id]).await?;
        tx.commit().await?;
        Ok(queued)
    }

    async fn queue_depth(&self, suite_id: Option<i64>) -> Result<i64, StoreError> {
        let sql = "SELECT count(*) FROM analysis_queue WHERE $1::bigint IS NULL OR suite_id = $1";
        Ok(self.client().await?.query_one(sql, &[&suite_id]).await?.get(0))
    }

    async fn flaky_tracks(&self, q: &TrackQuery) -> Result<(Vec<(TrackRow, TrackCounts)>, i64), StoreError> {
        let states: Vec<&str> = q.states.iter().map(|s| s.name()).collect();
        let sql = dollars(&flaky_page_sql(
            TEST_COLS,
            "states AS (SELECT unnest(?5::text[]))",
            "cardinality(?5::text[]) = 0",
            "(?8::bigint[] IS NULL OR tt.test_id = ANY(?8::bigint[]))",
        ));
        let c = self.client().await?;
        let rows = c.query(&sql, &[&q.suite_id, &q.track, &q.first_day, &q.end_day, &states, &q.limit, &q.offset, &q.only]).await?;
        let mut total = rows.first().map_or(0, |r| r.get::<_, i64>(17));
        let out = rows
            .iter()
            .map(|r| {
                let counts = TrackCounts {
                    parts: r.get(11),
                    flaky: r.get(12),
                    failed: r.get(13),
                    breakage: r.get(14),
                    runs_failed: r.get(15),
                    seconds_lost: r.get(16),
                };
                Ok((track_row(r, 18)?, counts))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if out.is_empty() && q.offset > 0 {
            total = c
                .query(&sql, &[&q.suite_id, &q.track, &q.first_day, &q.end_day, &states, &1i64, &0i64, &q.only])
                .await?
                .first()
                .map_or(0, |r| r.get(17));
        }
        let (rows, counts): (Vec<_>, Vec<_>) = out.into_iter().unzip();
        Ok((caught_up(&**c, rows).await?.into_iter().zip(counts).collect(), total))
    }

    async fn test_tracks(&self, test_id: i64) -> Result<Vec<TrackRow>, StoreError> {
        let sql = format!(
            "SELECT {TEST_COLS}, {TRACK_COLS} FROM test_tracks tt JOIN tests t ON t.id = tt.test_id WHERE tt.test_id = $1
             ORDER BY tt.track = '*', tt.track"
        );
        let c = self.client().await?;
        let rows = c.query(&sql, &[&test_id]).await?.iter().map(|r| track_row(r, 11)).collect::<Result<Vec<_>, _>>()?;
        caught_up(&**c, rows).await
    }

    async fn states_of(&self, track: &str, test_ids: &[i64]) -> Result<Vec<(i64, verdict_core::flaky::State)>, StoreError> {
        let rows = self
            .client()
            .await?
            .query("SELECT test_id, state FROM test_tracks WHERE track = $1 AND test_id = ANY($2)", &[&track, &test_ids])
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), parse_state(r.get(1)))).collect())
    }

    async fn test_events(&self, test_id: i64, limit: i64) -> Result<Vec<StateEvent>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT test_id, track, at_ms, from_state, to_state, rule, run_id, evidence FROM test_state_events
                 WHERE test_id = $1 ORDER BY at_ms DESC, id DESC LIMIT $2",
                &[&test_id, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| StateEvent {
                test_id: r.get(0),
                track: r.get(1),
                at_ms: r.get(2),
                from: r.get(3),
                to: r.get(4),
                rule: r.get(5),
                run_id: r.get(6),
                evidence: serde_json::from_str(r.get::<_, &str>(7)).unwrap_or(serde_json::Value::Null),
            })
            .collect())
    }

    async fn flaky_days(&self, suite_id: i64, track: &str, first_day: i64, end_day: i64) -> Result<Vec<FlakyDay>, StoreError> {
        let c = self.client().await?;
        let mut days: BTreeMap<i64, FlakyDay> = (first_day..end_day).map(|d| (d, FlakyDay { day: d, ..FlakyDay::default() })).collect();
        let rows = c
            .query(
                "SELECT day, count(*) FROM track_days WHERE suite_id = $1 AND track = $2 AND day >= $3 AND day < $4 AND flaky > 0 GROUP BY day",
                &[&suite_id, &track, &first_day, &end_day],
            )
            .await?;
        for r in rows {
            if let Some(d) = days.get_mut(&r.get::<_, i64>(0)) {
                d.flaky_tests = r.get(1);
            }
        }
        let rows = c
            .query(
                "SELECT at_ms / 86400000, from_state, to_state, count(*) FROM test_state_events
                 WHERE suite_id = $1 AND track = $2 AND at_ms >= $3 AND at_ms < $4 GROUP BY 1, 2, 3",
                &[&suite_id, &track, &(first_day * 86_400_000), &(end_day * 86_400_000)],
            )
            .await?;
        for r in rows {
            if let Some(d) = days.get_mut(&r.get::<_, i64>(0)) {
                count_change(d, r.get(1), r.get(2), r.get(3));
            }
        }
        Ok(days.into_values().collect())
    }
}
