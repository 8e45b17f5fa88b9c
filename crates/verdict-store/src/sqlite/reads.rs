use crate::error::StoreError;
use crate::plan::{RunTestOutcome, window_start};
use crate::store::{HistoryFilter, Page, RunFilter, RunSelection, TestFilter};
use crate::views::*;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use verdict_core::{Outcome, RunEnv};

const SUITE_COLS: &str = "id, slug, name, default_branch, created_at, commit_url, file_url";
pub(super) const RUN_COLS: &str = "id, suite_id, key, ci, url, branch, commit_sha, number, job_id, message, env, state, result, uploads, created_at, updated_at, job, payload,
    tests_passed, tests_failed, tests_flaky, tests_skipped, executions_passed, executions_failed, executions_total, test_seconds, infra, analyzed_at";
pub(super) const TEST_COLS: &str = "t.id, t.suite_id, t.scope, t.name, t.file_name, t.location, t.first_seen, t.last_seen";

fn suite_row(r: &Row<'_>) -> rusqlite::Result<Suite> {
    Ok(Suite {
        id: r.get(0)?,
        slug: r.get(1)?,
        name: r.get(2)?,
        default_branch: r.get(3)?,
        created_at: ms_to_time(r.get(4)?),
        commit_url: r.get(5)?,
        file_url: r.get(6)?,
    })
}

pub(super) fn run_row(r: &Row<'_>) -> rusqlite::Result<Run> {
    let run_env = RunEnv {
        key: r.get(2)?,
        ci: r.get(3)?,
        url: r.get(4)?,
        branch: r.get(5)?,
        commit_sha: r.get(6)?,
        number: r.get(7)?,
        job_id: r.get(8)?,
        message: r.get(9)?,
        job: r.get(16)?,
        payload: r.get(17)?,
        extra: string_map(r.get(10)?),
    };
    Ok(Run {
        id: r.get(0)?,
        suite_id: r.get(1)?,
        run_env,
        state: r.get(11)?,
        result: r.get(12)?,
        uploads: r.get(13)?,
        created_at: ms_to_time(r.get(14)?),
        updated_at: ms_to_time(r.get(15)?),
        tests: RunTestCounts { passed: r.get(18)?, failed: r.get(19)?, flaky: r.get(20)?, skipped: r.get(21)? },
        executions: RunExecutionCounts { passed: r.get(22)?, failed: r.get(23)?, total: r.get(24)? },
        test_seconds: r.get(25)?,
        infra: r.get::<_, i64>(26)? != 0,
        analyzed_at: r.get::<_, Option<i64>>(27)?.map(ms_to_time),
    })
}

pub(super) fn test_row(r: &Row<'_>) -> rusqlite::Result<Test> {
    Ok(Test {
        id: r.get(0)?,
        suite_id: r.get(1)?,
        scope: r.get(2)?,
        name: r.get(3)?,
        file_name: r.get(4)?,
        location: r.get(5)?,
        first_seen: ms_to_time(r.get(6)?),
        last_seen: ms_to_time(r.get(7)?),
    })
}

pub(super) fn outcome(code: i64) -> Outcome {
    Outcome::from_code(code).unwrap_or(Outcome::Unknown)
}

pub(super) fn suites(c: &Connection) -> Result<Vec<Suite>, StoreError> {
    let mut st = c.prepare_cached(&format!("SELECT {SUITE_COLS} FROM suites ORDER BY slug"))?;
    let rows = st.query_map([], suite_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// `column` is one of our own column names, never user input.
pub(super) fn suite_where(c: &Connection, column: &'static str, value: &str) -> Result<Option<Suite>, StoreError> {
    let mut st = c.prepare_cached(&format!("SELECT {SUITE_COLS} FROM suites WHERE {column} = ?1"))?;
    Ok(st.query_row([value], suite_row).optional()?)
}

pub(super) fn runs(c: &Connection, suite_id: i64, f: &RunFilter) -> Result<Vec<Run>, StoreError> {
    let mut sql = format!("SELECT {RUN_COLS} FROM runs WHERE suite_id = ?");
    let mut args: Vec<Value> = vec![suite_id.into()];
    for (col, v) in [("key", &f.key), ("branch", &f.branch), ("commit_sha", &f.commit_sha), ("job", &f.job), ("payload", &f.payload)] {
        if let Some(v) = v {
            sql.push_str(&format!(" AND {col} = ?"));
            args.push(v.clone().into());
        }
    }
    if let Some(r) = f.result {
        sql.push_str(" AND result = ?");
        args.push(r.as_str().to_owned().into());
    }
    for (cond, v) in [(" AND created_at >= ?", f.since_ms), (" AND created_at < ?", f.until_ms)] {
        if let Some(v) = v {
            sql.push_str(cond);
            args.push(v.into());
        }
    }
    sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?");
    args.extend([f.page.limit().into(), f.page.offset().into()]);
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params_from_iter(args), run_row)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(super) fn run(c: &Connection, run_id: i64) -> Result<Option<RunDetail>, StoreError> {
    let Some(run) = c.prepare_cached(&format!("SELECT {RUN_COLS} FROM runs WHERE id = ?1"))?.query_row([run_id], run_row).optional()?
    else {
        return Ok(None);
    };
    let mut counts = Counts::default();
    let mut st = c.prepare_cached("SELECT outcome, count(*) FROM executions WHERE run_id = ?1 GROUP BY outcome")?;
    for row in st.query_map([run_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
        let (o, n) = row?;
        counts.add(outcome(o), n);
    }
    let flaky: i64 =
        c.prepare_cached("SELECT count(*) FROM run_tests WHERE run_id = ?1 AND status & 8 = 8")?.query_row([run_id], |r| r.get(0))?;
    let metrics = c
        .prepare_cached("SELECT name, value FROM run_metrics WHERE run_id = ?1")?
        .query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(Some(RunDetail { run, total: counts.total(), counts, flaky, metrics }))
}

pub(super) fn run_executions(c: &Connection, run_id: i64, result: Option<Outcome>, page: Page) -> Result<Vec<Execution>, StoreError> {
    let cols = execution_cols(Execution::LISTED_REASON_BYTES, Execution::LISTED_DETAIL_BYTES);
    let mut st = c.prepare_cached(&format!(
        "SELECT {cols} {EXECUTION_FROM} WHERE e.run_id = ?1 AND (?2 IS NULL OR e.outcome = ?2) ORDER BY e.id LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = st
        .query_map(params![run_id, result.map(|o| o.code()), page.limit(), page.offset()], |r| {
            execution_row(r, Execution::LISTED_REASON_BYTES)
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(super) fn execution(c: &Connection, id: i64) -> Result<Option<Execution>, StoreError> {
    let cols = execution_cols(WHOLE, WHOLE);
    let mut st = c.prepare_cached(&format!("SELECT {cols} {EXECUTION_FROM} WHERE e.id = ?1"))?;
    Ok(st.query_row(params![id], |r| execution_row(r, WHOLE)).optional()?)
}

pub(super) fn execution_output(c: &Connection, id: i64) -> Result<Option<ExecutionOutput>, StoreError> {
    let n = verdict_core::caps::MAX_TEXT_BYTES + 1;
    let mut st = c.prepare_cached(&format!(
        "SELECT substr(json_extract(outputs, '$.system_out'), 1, {n}), substr(json_extract(outputs, '$.system_err'), 1, {n})
         FROM executions WHERE id = ?1"
    ))?;
    Ok(st.query_row(params![id], |r| Ok(output_of(r.get(0)?, r.get(1)?))).optional()?)
}

pub(super) fn execution_row(r: &Row<'_>, reason_max: i64) -> rusqlite::Result<Execution> {
    Ok(Execution {
        id: r.get(0)?,
        run_id: r.get(1)?,
        test_id: r.get(2)?,
        scope: r.get(3)?,
        name: r.get(4)?,
        file_name: r.get(5)?,
        location: r.get(6)?,
        result: outcome(r.get(7)?),
        duration: r.get(8)?,
        attempt: r.get(9)?,
        failure_reason: listed_reason(r.get(10)?, reason_max),
        detail: r.get::<_, Option<String>>(11)?.and_then(|s| serde_json::from_str(&s).ok()),
        detail_omitted: r.get(12)?,
        has_output: r.get(13)?,
        tags: merged_tags(r.get(16)?, r.get(14)?),
        created_at: ms_to_time(r.get(15)?),
    })
}

/// Test ids as the JSON array `json_each` reads (none: no filter).
pub(super) fn ids_json(ids: Option<&[i64]>) -> Option<String> {
    ids.map(|ids| serde_json::to_string(ids).expect("numbers serialise"))
}

pub(super) fn tests(c: &Connection, suite_id: i64, f: &TestFilter) -> Result<Vec<TestStats>, StoreError> {
    let (first_day, first_ms) = window_start(f.days);
    let mut st = c.prepare_cached(&format!(
        "SELECT {TEST_COLS}, coalesce(sum(r.passed), 0), coalesce(sum(r.failed), 0), coalesce(sum(r.skipped), 0),
                coalesce(sum(r.pending), 0), coalesce(sum(r.unknown), 0), coalesce(sum(r.flaky), 0)
         FROM (SELECT * FROM tests WHERE suite_id = ?1 AND (?6 IS NULL OR id IN (SELECT value FROM json_each(?6)))
               ORDER BY scope, name LIMIT ?4 OFFSET ?5) t
         LEFT JOIN rollups r ON r.test_id = t.id AND r.day >= ?2 AND (?3 IS NULL OR r.branch = ?3)
         GROUP BY t.id ORDER BY t.scope, t.name"
    ))?;
    let rows: Vec<(Test, Counts, i64)> = st
        .query_map(params![suite_id, first_day, f.branch, f.page.limit(), f.page.offset(), ids_json(f.only.as_deref())], |r| {
            let counts = Counts { passed: r.get(8)?, failed: r.get(9)?, skipped: r.get(10)?, pending: r.get(11)?, unknown: r.get(12)? };
            Ok((test_row(r)?, counts, r.get(13)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut durations = c.prepare_cached(
        "SELECT e.duration FROM executions e JOIN runs r ON r.id = e.run_id
         WHERE e.test_id = ?1 AND e.created_at >= ?2 AND e.duration IS NOT NULL AND (?3 IS NULL OR r.branch = ?3)",
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for (test, counts, flaky) in rows {
        let d: Vec<f64> = durations.query_map(params![test.id, first_ms, f.branch], |r| r.get(0))?.collect::<Result<_, _>>()?;
        out.push(TestStats::from_parts(test, counts, flaky, d));
    }
    Ok(out)
}

pub(super) fn test(c: &Connection, test_id: i64) -> Result<Option<Test>, StoreError> {
    let mut st = c.prepare_cached(&format!("SELECT {TEST_COLS} FROM tests t WHERE t.id = ?1"))?;
    Ok(st.query_row([test_id], test_row).optional()?)
}

pub(super) fn test_history(c: &Connection, test_id: i64, f: &HistoryFilter, page: Page) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT e.id, e.run_id, e.outcome, e.duration, e.attempt, e.failure_reason, r.branch, r.commit_sha, r.url, r.number, e.created_at
         FROM executions e JOIN runs r ON r.id = e.run_id
         WHERE e.test_id = ?1 AND (?4 IS NULL OR r.branch = ?4) AND (?5 IS NULL OR e.outcome = ?5)
         ORDER BY e.created_at DESC, e.id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let rows = st
        .query_map(params![test_id, page.limit(), page.offset(), f.branch, f.result.map(|o| o.code())], |r| {
            Ok(HistoryEntry {
                execution_id: r.get(0)?,
                run_id: r.get(1)?,
                result: outcome(r.get(2)?),
                duration: r.get(3)?,
                attempt: r.get(4)?,
                failure_reason: r.get(5)?,
                branch: r.get(6)?,
                commit_sha: r.get(7)?,
                url: r.get(8)?,
                number: r.get(9)?,
                created_at: ms_to_time(r.get(10)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(super) fn batch_results(c: &Connection, suite_id: i64, job: &str, payload: &str) -> Result<Vec<BatchResult>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT r.id, r.key, t.scope, t.name, e.outcome
         FROM runs r JOIN executions e ON e.run_id = r.id JOIN tests t ON t.id = e.test_id
         WHERE r.suite_id = ?1 AND r.job = ?2 AND r.payload = ?3
         ORDER BY r.created_at, r.id, e.id",
    )?;
    let rows = st
        .query_map(params![suite_id, job, payload], |r| {
            Ok(BatchResult { run_id: r.get(0)?, run_key: r.get(1)?, scope: r.get(2)?, name: r.get(3)?, outcome: outcome(r.get(4)?) })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The runs a [`RunSelection`] picks, as the CTE `sel`; parameters from [`selection_params`].
const SELECTED_RUNS: &str = "WITH sel AS (
    SELECT id, key, created_at FROM runs WHERE suite_id = ?1 AND (?2 IS NULL OR job = ?2) AND (?3 IS NULL OR branch = ?3)
      AND (?4 IS NULL OR payload = ?4) AND (?5 IS NULL OR payload IS NOT ?5) AND created_at >= ?6 AND created_at < ?7
    ORDER BY created_at DESC, id DESC LIMIT ?8)";

fn selection_params<'a>(suite_id: &'a i64, sel: &'a RunSelection) -> [&'a dyn rusqlite::ToSql; 8] {
    [suite_id, &sel.job, &sel.branch, &sel.payload, &sel.exclude_payload, &sel.since_ms, &sel.until_ms, &sel.max_runs]
}

pub(super) fn run_metrics(c: &Connection, suite_id: i64, sel: &RunSelection) -> Result<Vec<RunMetric>, StoreError> {
    let sql = format!(
        "{SELECTED_RUNS} SELECT sel.id, sel.key, m.name, m.value FROM sel JOIN run_metrics m ON m.run_id = sel.id
         ORDER BY sel.created_at, sel.id, m.name"
    );
    let rows = c
        .prepare_cached(&sql)?
        .query_map(selection_params(&suite_id, sel), |r| {
            Ok(RunMetric { run_id: r.get(0)?, run_key: r.get(1)?, name: r.get(2)?, value: r.get(3)? })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub(super) fn test_durations(c: &Connection, suite_id: i64, sel: &RunSelection) -> Result<Vec<TestDurations>, StoreError> {
    let sql = format!(
        "{SELECTED_RUNS} SELECT t.scope, t.name, e.duration FROM executions e JOIN tests t ON t.id = e.test_id
         WHERE e.run_id IN (SELECT id FROM sel) AND e.duration IS NOT NULL ORDER BY t.scope, t.name"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(selection_params(&suite_id, sel), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<Vec<_>, _>>()?;
    Ok(TestDurations::group(rows))
}

pub(super) fn test_records(c: &Connection, suite_id: i64, sel: &RunSelection) -> Result<Vec<TestRecord>, StoreError> {
    let run_ids: Vec<i64> = c
        .prepare_cached(&format!("{SELECTED_RUNS} SELECT id FROM sel"))?
        .query_map(selection_params(&suite_id, sel), |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // Counted here rather than by GROUP BY: SQLite would sort millions of
    // (run, test) rows into a temporary b-tree. A suite's test ids are
    // nearly dense, so the counts are a vector indexed by id, not a hash map.
    let (low, high): (Option<i64>, Option<i64>) = c
        .prepare_cached("SELECT min(id), max(id) FROM tests WHERE suite_id = ?1")?
        .query_row([suite_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let (Some(low), Some(high)) = (low, high) else {
        return Ok(Vec::new());
    };
    // [passed, failed, flaked, seen]
    let mut counts = vec![[0u32; 4]; (high - low + 1) as usize];
    let mut statuses = c.prepare_cached("SELECT test_id, status FROM run_tests WHERE run_id = ?1")?;
    for run_id in run_ids {
        let mut rows = statuses.query([run_id])?;
        while let Some(r) = rows.next()? {
            let Some(n) = usize::try_from(r.get::<_, i64>(0)? - low).ok().and_then(|i| counts.get_mut(i)) else { continue };
            n[3] = 1;
            match RunTestOutcome::of(r.get::<_, i64>(1)?) {
                Some(RunTestOutcome::Passed) => n[0] += 1,
                Some(RunTestOutcome::Failed) => n[1] += 1,
                Some(RunTestOutcome::Flaked) => n[2] += 1,
                None => {}
            }
        }
    }
    let mut records = Vec::new();
    let mut names = c.prepare_cached("SELECT id, scope, name FROM tests WHERE suite_id = ?1")?;
    let mut rows = names.query([suite_id])?;
    while let Some(r) = rows.next()? {
        let [passed, failed, flaked, seen] = counts[(r.get::<_, i64>(0)? - low) as usize];
        if seen == 1 {
            let (passed, failed, flaked) = (i64::from(passed), i64::from(failed), i64::from(flaked));
            records.push(TestRecord { test_id: r.get(0)?, scope: r.get(1)?, name: r.get(2)?, passed, failed, flaked });
        }
    }
    records.sort_unstable_by(|a, b| (&a.scope, &a.name).cmp(&(&b.scope, &b.name)));
    Ok(records)
}
