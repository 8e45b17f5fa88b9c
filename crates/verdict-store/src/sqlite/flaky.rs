//! Flaky and broken tests on SQLite (see `crate::flaky`).

use super::SqliteStore;
use super::reads::{TEST_COLS, outcome, test_row};
use crate::error::StoreError;
use crate::flaky::*;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{HashMap, HashSet};
use verdict_core::flaky::{Settings, Track};

fn settings(c: &Connection, suite_id: i64) -> Result<Settings, StoreError> {
    let json: Option<Option<String>> =
        c.prepare_cached("SELECT flaky_settings FROM suites WHERE id = ?1")?.query_row([suite_id], |r| r.get(0)).optional()?;
    match json {
        None => Err(StoreError::NotFound(format!("no suite {suite_id}"))),
        Some(j) => Ok(settings_of(j.as_deref())),
    }
}

/// The oldest queued run whose newest upload settled by `now_ms`.
fn due_run(c: &Connection, now_ms: i64) -> Result<Option<(i64, i64, i64)>, StoreError> {
    let mut st = c.prepare_cached(DUE_SQL)?;
    let rows = st.query_map([DUE_CANDIDATES], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get(3)?)))?;
    for row in rows {
        let (run, suite, newest, json): (i64, i64, i64, Option<String>) = row?;
        if newest + settings_of(json.as_deref()).settle_secs * 1000 <= now_ms {
            return Ok(Some((run, suite, newest)));
        }
    }
    Ok(None)
}

/// Replay on quiet rows the parts they skipped (see `crate::flaky::catch_up`).
fn catch_up_rows(
    c: &Connection,
    suite_id: i64,
    need: &[(i64, String, i64)],
    tracks: &mut HashMap<(i64, String), Track>,
    settings: &Settings,
    until: i64,
) -> Result<Vec<(i64, String, verdict_core::flaky::Transition)>, StoreError> {
    let Some(since) = need.iter().map(|(_, _, as_of)| *as_of).min() else { return Ok(Vec::new()) };
    let parts: Vec<(RecordedPart, bool)> = c
        .prepare_cached(PARTS_SINCE)?
        .query_map(params![suite_id, since, until], |r| {
            let part = RecordedPart {
                n: r.get(0)?,
                run_id: r.get(1)?,
                branch: r.get(2)?,
                at_ms: r.get(3)?,
                first_at: r.get(4)?,
                infra: r.get::<_, i64>(5)? != 0,
            };
            Ok((part, r.get::<_, i64>(6)? != 0))
        })?
        .collect::<Result<_, _>>()?;
    let ids: HashSet<i64> = need.iter().map(|(t, _, _)| *t).collect();
    let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
    let plan = ReplayReads::new(&parts);
    let mut rows = Vec::new();
    if !plan.whole_runs.is_empty() {
        // A part that is its whole run: the run's statuses say which tests it had.
        let runs = serde_json::to_string(&plan.whole_runs.keys().collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into());
        let mut st = c.prepare_cached(
            "SELECT run_id, test_id, status FROM run_tests
             WHERE run_id IN (SELECT value FROM json_each(?1)) AND test_id IN (SELECT value FROM json_each(?2))",
        )?;
        for r in st.query_map(params![runs, ids], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))? {
            let (run, test, status) = r?;
            rows.extend(plan.rows_of(run, test, status));
        }
    }
    if let Some(oldest) = plan.oldest_other {
        // Executions are no older than their upload, and a part's uploads no older than its first_at.
        let others = serde_json::to_string(&plan.other_parts).unwrap_or_else(|_| "[]".into());
        let mut st = c.prepare_cached(
            "SELECT e.test_id, u.part_n, e.outcome, e.attempt FROM executions e JOIN uploads u ON u.id = e.upload_id
             WHERE e.test_id IN (SELECT value FROM json_each(?1)) AND e.created_at >= ?2
               AND u.part_n IN (SELECT value FROM json_each(?3)) AND u.part_infra = 0 AND e.outcome IN (0, 1)",
        )?;
        let found = st.query_map(params![ids, oldest, others], |r| {
            Ok(ReplayRow { test_id: r.get(0)?, n: r.get(1)?, passed: r.get::<_, i64>(2)? == 0, attempt: r.get(3)? })
        })?;
        for r in found {
            rows.push(r?);
        }
    }
    let parts: Vec<RecordedPart> = parts.into_iter().map(|(p, _)| p).collect();
    Ok(catch_up(tracks, need, &parts, &rows, settings))
}

/// One analysis step, planned from a reader's snapshot and then written.
struct Prepared {
    run: PartRun,
    part: RecordedPart,
    whole: bool,
    queued: Vec<(String, i64, i64)>,
    plan: PartPlan,
}

/// Everything a step reads and computes, on a reader connection (in one read
/// transaction, so one snapshot): on SQLite the writer is then busy only for
/// the step's writes, and uploads go on meanwhile.
fn prepare_step(c: &Connection, now_ms: i64) -> Result<Option<Prepared>, StoreError> {
    let Some((run_id, suite_id, at_ms)) = due_run(c, now_ms)? else { return Ok(None) };
    let settings = settings(c, suite_id)?;
    let (branch, commit, default_branch): (Option<String>, Option<String>, String) = c
        .prepare_cached("SELECT r.branch, r.commit_sha, s.default_branch FROM runs r JOIN suites s ON s.id = r.suite_id WHERE r.id = ?1")?
        .query_row([run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let run = PartRun { run_id, suite_id, branch, commit, default_branch, at_ms };
    let queued: Vec<(String, i64, i64)> = c
        .prepare_cached("SELECT upload_id, seq, queued_at FROM analysis_queue WHERE run_id = ?1 ORDER BY seq")?
        .query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    let first_at = queued.iter().map(|q| q.2).min().unwrap_or(at_ms);
    let mut rows = Vec::new();
    {
        let mut st = c.prepare_cached(
            "SELECT test_id, outcome, duration, attempt FROM executions WHERE run_id = ?1 AND upload_id = ?2 ORDER BY id",
        )?;
        for (u, _, _) in &queued {
            let found = st.query_map(params![run_id, u], |r| {
                Ok(PartRow {
                    test_id: r.get(0)?,
                    upload_id: u.clone(),
                    outcome: outcome(r.get(1)?),
                    duration: r.get(2)?,
                    attempt: r.get(3)?,
                })
            })?;
            for row in found {
                rows.push(row?);
            }
        }
    }
    let n: i64 = c.prepare_cached(NEXT_PART)?.query_row([suite_id], |r| r.get(0))?;
    let first_of_run: bool = c.prepare_cached(FIRST_OF_RUN)?.query_row([run_id], |r| r.get(0))?;
    let facts = PartFacts::new(&rows, &settings);
    let tracks = tracks_of(&run, &settings);
    let tests: HashSet<i64> = rows.iter().map(|r| r.test_id).collect();
    let ids = serde_json::to_string(&tests.iter().collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into());
    let mut probes: HashMap<(i64, usize), Probe> = HashMap::with_capacity(tests.len() * tracks.len());
    {
        // One statement for the part's tests on every track, answered from the probe index
        // alone: a test's rows on its tracks are one entry apart in it.
        let names = serde_json::to_string(&tracks.iter().map(|(t, _)| t).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into());
        let mut st = c.prepare_cached(
            "SELECT test_id, track, as_of, quiet_until FROM test_tracks INDEXED BY test_tracks_probe
             WHERE test_id IN (SELECT value FROM json_each(?1)) AND track IN (SELECT value FROM json_each(?2))",
        )?;
        let mut rows = st.query(params![ids, names])?;
        while let Some(r) = rows.next()? {
            let (t, as_of, quiet_until): (i64, i64, Option<i64>) = (r.get(0)?, r.get(2)?, r.get(3)?);
            let track = r.get_ref(1)?.as_str().map_err(|e| StoreError::Database(e.to_string()))?;
            if let Some(ti) = tracks.iter().position(|(name, _)| name == track) {
                probes.insert((t, ti), Probe { as_of, quiet_until, data: None });
            }
        }
    }
    let split = split_part(&run, &settings, &facts, &probes, n);
    // Then the data of the rows this part writes: every row it does not skip.
    let mut stored: HashMap<(i64, String), Track> = HashMap::new();
    {
        let mut st =
            c.prepare_cached("SELECT test_id, data FROM test_tracks WHERE track = ?1 AND test_id IN (SELECT value FROM json_each(?2))")?;
        for (ti, (track, _)) in tracks.iter().enumerate() {
            let need: Vec<i64> = probes.keys().filter(|k| k.1 == ti && !split.skip.contains(*k)).map(|k| k.0).collect();
            if need.is_empty() {
                continue;
            }
            let ids = serde_json::to_string(&need).unwrap_or_else(|_| "[]".into());
            let mut rows = st.query(params![track, ids])?;
            while let Some(r) = rows.next()? {
                let (t, data): (i64, String) = (r.get(0)?, r.get(1)?);
                stored.insert((t, track.clone()), decode_track(t, track, &data)?);
            }
        }
    }
    let caught_up = catch_up_rows(c, suite_id, &split.catch_up, &mut stored, &settings, i64::MAX)?;
    let mut passed_elsewhere = HashSet::new();
    let failed = failed_tests(&rows);
    if let (Some(commit), false) = (run.commit.as_deref(), failed.is_empty()) {
        // Only the failed tests: a commit run many times has many passes of every other test.
        let mut st = c.prepare_cached(
            "SELECT rt.test_id, r.branch FROM runs r JOIN run_tests rt ON rt.run_id = r.id
             WHERE r.suite_id = ?1 AND r.commit_sha = ?2 AND r.id <> ?3 AND rt.status & 1 = 1
               AND rt.test_id IN (SELECT value FROM json_each(?4))",
        )?;
        let ids = serde_json::to_string(&failed.iter().collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into());
        let found = st.query_map(params![suite_id, commit, run_id, ids], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?)))?;
        for row in found {
            let (test, branch) = row?;
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
    Ok(Some(Prepared { run, part, whole, queued, plan }))
}

/// Write a prepared step, if nothing it read has changed since: its queue
/// rows are all still there (not taken, not started over by a recompute) and
/// no other part of the suite was written (track rows change only so).
/// `false` when it had to give up; nothing is written then.
fn commit_step(c: &Connection, p: &Prepared, now_ms: i64) -> Result<bool, StoreError> {
    let seqs = serde_json::to_string(&p.queued.iter().map(|q| q.1).collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into());
    let still: i64 = c
        .prepare_cached("SELECT count(*) FROM analysis_queue WHERE seq IN (SELECT value FROM json_each(?1))")?
        .query_row([seqs], |r| r.get(0))?;
    let n: i64 = c.prepare_cached(NEXT_PART)?.query_row([p.run.suite_id], |r| r.get(0))?;
    if still != p.queued.len() as i64 || n != p.part.n {
        return Ok(false);
    }
    write_plan(c, &p.run, (&p.part, p.whole), &p.queued, &p.plan, now_ms)?;
    // Exactly the rows taken: an upload of this run committed meanwhile stays queued for the next part.
    let mut del = c.prepare_cached("DELETE FROM analysis_queue WHERE seq = ?1")?;
    for (_, seq, _) in &p.queued {
        del.execute([seq])?;
    }
    Ok(true)
}

fn write_plan(
    c: &Connection,
    run: &PartRun,
    (part, whole): (&RecordedPart, bool),
    queued: &[(String, i64, i64)],
    plan: &PartPlan,
    now_ms: i64,
) -> Result<(), StoreError> {
    c.prepare_cached(INSERT_PART)?.execute(params![
        run.suite_id,
        part.n,
        part.run_id,
        part.branch,
        part.at_ms,
        part.first_at,
        i64::from(part.infra),
        queued.len() as i64,
        i64::from(whole)
    ])?;
    let mut mark = c.prepare_cached(MARK_UPLOAD)?;
    for (u, _, _) in queued {
        mark.execute(params![u, part.n, i64::from(plan.infra_uploads.contains(u))])?;
    }
    let mut track_st = c.prepare_cached(
        "INSERT INTO test_tracks (test_id, track, suite_id, state, since_ms, runs, flaky_runs, ci_seconds_lost, last_flaked_ms, data, updated_at,
                                  as_of, quiet_until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (test_id, track) DO UPDATE SET state = excluded.state, since_ms = excluded.since_ms, runs = excluded.runs,
           flaky_runs = excluded.flaky_runs, ci_seconds_lost = excluded.ci_seconds_lost, last_flaked_ms = excluded.last_flaked_ms,
           data = excluded.data, updated_at = excluded.updated_at, as_of = excluded.as_of, quiet_until = excluded.quiet_until",
    )?;
    for w in &plan.tracks {
        let t = &w.data;
        track_st.execute(params![
            w.test_id,
            w.track,
            run.suite_id,
            t.state().name(),
            t.since_ms,
            t.evidence.runs as i64,
            t.evidence.flaky_runs as i64,
            t.evidence.ci_seconds_lost,
            t.last_flaked_ms,
            encode_track(t),
            now_ms,
            part.n,
            w.quiet_until
        ])?;
    }
    let mut event_st = c.prepare_cached(
        "INSERT INTO test_state_events (test_id, track, suite_id, at_ms, from_state, to_state, rule, run_id, evidence)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for (test, track, e) in &plan.events {
        event_st.execute(params![
            test,
            track,
            run.suite_id,
            e.at_ms,
            e.from.name(),
            e.to.name(),
            e.rule.name(),
            e.run_id,
            event_evidence(e)
        ])?;
    }
    super::webhooks::emit_part(c, run, plan, now_ms)?;
    super::controls::apply_policy(c, run.suite_id, plan)?;
    let mut day_st = c.prepare_cached(
        "INSERT INTO track_days (test_id, track, day, suite_id, parts, flaky, failed, breakage, runs_failed, seconds_lost)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (test_id, track, day) DO UPDATE SET parts = parts + excluded.parts, flaky = flaky + excluded.flaky,
           failed = failed + excluded.failed, breakage = breakage + excluded.breakage,
           runs_failed = runs_failed + excluded.runs_failed, seconds_lost = seconds_lost + excluded.seconds_lost",
    )?;
    for (test, track, day, d) in &plan.days {
        day_st.execute(params![test, track, day, run.suite_id, d.parts, d.flaky, d.failed, d.breakage, d.runs_failed, d.seconds_lost])?;
    }
    c.prepare_cached("UPDATE runs SET infra = max(infra, ?2), analyzed_at = ?3 WHERE id = ?1")?.execute(params![
        run.run_id,
        i64::from(plan.infra),
        now_ms
    ])?;
    Ok(())
}

/// A listed row, with its `as_of` when it is quiet (read at `at`: its `as_of`, then its `quiet_until`).
fn track_row(r: &rusqlite::Row<'_>, at: usize) -> Result<(TrackRow, Option<i64>), StoreError> {
    let test = test_row(r)?;
    let (track, state, data): (String, String, String) = (r.get(8)?, r.get(9)?, r.get(10)?);
    let data = decode_track(test.id, &track, &data)?;
    let quiet = r.get::<_, Option<i64>>(at + 1)?.map(|_| r.get(at)).transpose()?;
    Ok((TrackRow { test, track, state: parse_state(&state), data }, quiet))
}

/// Listed rows with the quiet ones caught up (one suite's rows).
fn caught_up(c: &Connection, mut rows: Vec<(TrackRow, Option<i64>)>) -> Result<Vec<TrackRow>, StoreError> {
    let (need, mut tracks) = quiet_listed(&rows);
    if let Some(suite_id) = rows.first().map(|(r, _)| r.test.suite_id).filter(|_| !need.is_empty()) {
        catch_up_rows(c, suite_id, &need, &mut tracks, &settings(c, suite_id)?, replay_until(&rows))?;
    }
    Ok(put_caught_up(&mut rows, tracks))
}

const TRACK_COLS: &str = "tt.track, tt.state, tt.data, tt.as_of, tt.quiet_until";

fn flaky_tracks(c: &Connection, q: &TrackQuery) -> Result<(Vec<(TrackRow, TrackCounts)>, i64), StoreError> {
    let states: Vec<&str> = q.states.iter().map(|s| s.name()).collect();
    let states = serde_json::to_string(&states).unwrap_or_else(|_| "[]".into());
    let sql = flaky_page_sql(
        TEST_COLS,
        "states AS (SELECT value FROM json_each(?5))",
        "json_array_length(?5) = 0",
        "(?8 IS NULL OR tt.test_id IN (SELECT value FROM json_each(?8)))",
    );
    let mut st = c.prepare_cached(&sql)?;
    let only = super::reads::ids_json(q.only.as_deref());
    let mut rows = st.query(params![q.suite_id, q.track, q.first_day, q.end_day, states, q.limit, q.offset, only])?;
    let (mut out, mut total) = (Vec::new(), 0);
    while let Some(r) = rows.next()? {
        let counts = TrackCounts {
            parts: r.get(11)?,
            flaky: r.get(12)?,
            failed: r.get(13)?,
            breakage: r.get(14)?,
            runs_failed: r.get(15)?,
            seconds_lost: r.get(16)?,
        };
        total = r.get(17)?;
        out.push((track_row(r, 18)?, counts));
    }
    if out.is_empty() && q.offset > 0 {
        // Past the last page: the count the window function gives with the rows.
        let (_, t) = flaky_tracks(c, &TrackQuery { offset: 0, limit: 1, ..q.clone() })?;
        total = t;
    }
    let (rows, counts): (Vec<_>, Vec<_>) = out.into_iter().unzip();
    Ok((caught_up(c, rows)?.into_iter().zip(counts).collect(), total))
}

fn test_tracks(c: &Connection, test_id: i64) -> Result<Vec<TrackRow>, StoreError> {
    let sql = format!(
        "SELECT {TEST_COLS}, {TRACK_COLS} FROM test_tracks tt JOIN tests t ON t.id = tt.test_id WHERE tt.test_id = ?1 ORDER BY tt.track = '*', tt.track"
    );
    let mut st = c.prepare_cached(&sql)?;
    let mut rows = st.query([test_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(track_row(r, 11)?);
    }
    caught_up(c, out)
}

fn test_events(c: &Connection, test_id: i64, limit: i64) -> Result<Vec<StateEvent>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT test_id, track, at_ms, from_state, to_state, rule, run_id, evidence FROM test_state_events
         WHERE test_id = ?1 ORDER BY at_ms DESC, id DESC LIMIT ?2",
    )?;
    let rows = st.query_map(params![test_id, limit], |r| {
        let evidence: String = r.get(7)?;
        Ok(StateEvent {
            test_id: r.get(0)?,
            track: r.get(1)?,
            at_ms: r.get(2)?,
            from: r.get(3)?,
            to: r.get(4)?,
            rule: r.get(5)?,
            run_id: r.get(6)?,
            evidence: serde_json::from_str(&evidence).unwrap_or(serde_json::Value::Null),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn flaky_days(c: &Connection, suite_id: i64, track: &str, first_day: i64, end_day: i64) -> Result<Vec<FlakyDay>, StoreError> {
    let mut days: std::collections::BTreeMap<i64, FlakyDay> =
        (first_day..end_day).map(|d| (d, FlakyDay { day: d, ..FlakyDay::default() })).collect();
    let mut st = c.prepare_cached(
        "SELECT day, count(*) FROM track_days WHERE suite_id = ?1 AND track = ?2 AND day >= ?3 AND day < ?4 AND flaky > 0 GROUP BY day",
    )?;
    for row in st.query_map(params![suite_id, track, first_day, end_day], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
        let (day, n) = row?;
        if let Some(d) = days.get_mut(&day) {
            d.flaky_tests = n;
        }
    }
    let mut st = c.prepare_cached(
        "SELECT at_ms / 86400000, from_state, to_state, count(*) FROM test_state_events
         WHERE suite_id = ?1 AND track = ?2 AND at_ms >= ?3 AND at_ms < ?4 GROUP BY 1, 2, 3",
    )?;
    let rows = st.query_map(params![suite_id, track, first_day * 86_400_000, end_day * 86_400_000], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?))
    })?;
    for row in rows {
        let (day, from, to, n) = row?;
        if let Some(d) = days.get_mut(&day) {
            count_change(d, &from, &to, n);
        }
    }
    Ok(days.into_values().collect())
}

#[async_trait]
impl FlakyStore for SqliteStore {
    async fn flaky_settings(&self, suite_id: i64) -> Result<Settings, StoreError> {
        self.read_here(move |c| settings(c, suite_id)).await
    }

    async fn set_flaky_settings(&self, suite_id: i64, s: &Settings) -> Result<(), StoreError> {
        let json = serde_json::to_string(s).map_err(|e| StoreError::Database(e.to_string()))?;
        self.writer
            .write(move |c| {
                let n = c.prepare_cached("UPDATE suites SET flaky_settings = ?2 WHERE id = ?1")?.execute(params![suite_id, json])?;
                if n == 0 { Err(StoreError::NotFound(format!("no suite {suite_id}"))) } else { Ok(()) }
            })
            .await
    }

    async fn analyse_due(&self, now_ms: i64) -> Result<Option<i64>, StoreError> {
        loop {
            // Nothing queued is the common case: answer it from a reader, not the writer.
            if self.queue_depth(None).await? == 0 {
                return Ok(None);
            }
            let prepared = self
                .read(move |c| {
                    let snapshot = c.unchecked_transaction()?;
                    let p = prepare_step(&snapshot, now_ms)?;
                    snapshot.finish()?;
                    Ok(p)
                })
                .await?;
            let Some(p) = prepared else { return Ok(None) };
            let run_id = p.run.run_id;
            if self.writer.write(move |c| commit_step(c, &p, now_ms)).await? {
                return Ok(Some(run_id));
            }
            // A recompute (or another step) changed what the plan read: plan it again.
        }
    }

    async fn requeue_suite(&self, suite_id: i64) -> Result<i64, StoreError> {
        self.writer
            .write(move |c| {
                let mut queued = 0;
                for sql in REQUEUE {
                    queued = c.prepare_cached(sql)?.execute([suite_id])? as i64;
                }
                c.prepare_cached("UPDATE runs SET infra = 0, analyzed_at = NULL WHERE suite_id = ?1")?.execute([suite_id])?;
                Ok(queued)
            })
            .await
    }

    async fn queue_depth(&self, suite_id: Option<i64>) -> Result<i64, StoreError> {
        self.read_here(move |c| {
            Ok(c.prepare_cached("SELECT count(*) FROM analysis_queue WHERE ?1 IS NULL OR suite_id = ?1")?
                .query_row([suite_id], |r| r.get(0))?)
        })
        .await
    }

    async fn flaky_tracks(&self, q: &TrackQuery) -> Result<(Vec<(TrackRow, TrackCounts)>, i64), StoreError> {
        let q = q.clone();
        self.read(move |c| flaky_tracks(c, &q)).await
    }

    async fn test_tracks(&self, test_id: i64) -> Result<Vec<TrackRow>, StoreError> {
        self.read_here(move |c| test_tracks(c, test_id)).await
    }

    async fn states_of(&self, track: &str, test_ids: &[i64]) -> Result<Vec<(i64, verdict_core::flaky::State)>, StoreError> {
        let (track, ids) = (track.to_owned(), serde_json::to_string(test_ids).unwrap_or_else(|_| "[]".into()));
        self.read_here(move |c| {
            let mut st = c.prepare_cached(
                "SELECT test_id, state FROM test_tracks WHERE track = ?1 AND test_id IN (SELECT value FROM json_each(?2))",
            )?;
            let rows = st.query_map(params![track, ids], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
            Ok(rows.map(|r| r.map(|(t, s)| (t, parse_state(&s)))).collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn test_events(&self, test_id: i64, limit: i64) -> Result<Vec<StateEvent>, StoreError> {
        self.read_here(move |c| test_events(c, test_id, limit)).await
    }

    async fn flaky_days(&self, suite_id: i64, track: &str, first_day: i64, end_day: i64) -> Result<Vec<FlakyDay>, StoreError> {
        let track = track.to_owned();
        self.read(move |c| flaky_days(c, suite_id, &track, first_day, end_day)).await
    }
}
