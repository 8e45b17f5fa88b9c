use crate::error::StoreError;
use crate::plan::window_start;
use crate::store::{HistoryFilter, Page, RunFilter, RunSelection, TestFilter};
use crate::views::*;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};
use verdict_core::{Outcome, RunEnv};

const SUITE_COLS: &str = "id, slug, name, default_branch, created_at, commit_url, file_url";
pub(super) const RUN_COLS: &str = "id, suite_id, key, ci, url, branch, commit_sha, number, job_id, message, env, state, result, uploads, created_at, updated_at, job, payload,
    tests_passed, tests_failed, tests_flaky, tests_skipped, executions_passed, executions_failed, executions_total, test_seconds, infra, analyzed_at";
pub(super) const TEST_COLS: &str = "t.id, t.suite_id, t.scope, t.name, t.file_name, t.location, t.first_seen, t.last_seen";

fn suite_row(r: &Row) -> Suite {
    Suite {
        id: r.get(0),
        slug: r.get(1),
        name: r.get(2),
        default_branch: r.get(3),
        created_at: ms_to_time(r.get(4)),
        commit_url: r.get(5),
        file_url: r.get(6),
    }
}

pub(super) fn run_row(r: &Row) -> Run {
    let run_env = RunEnv {
        key: r.get(2),
        ci: r.get(3),
        url: r.get(4),
        branch: r.get(5),
        commit_sha: r.get(6),
        number: r.get(7),
        job_id: r.get(8),
        message: r.get(9),
        job: r.get(16),
        payload: r.get(17),
        extra: string_map(r.get(10)),
    };
    Run {
        id: r.get(0),
        suite_id: r.get(1),
        run_env,
        state: r.get(11),
        result: r.get(12),
        uploads: r.get(13),
        created_at: ms_to_time(r.get(14)),
        updated_at: ms_to_time(r.get(15)),
        tests: RunTestCounts { passed: r.get(18), failed: r.get(19), flaky: r.get(20), skipped: r.get(21) },
        executions: RunExecutionCounts { passed: r.get(22), failed: r.get(23), total: r.get(24) },
        test_seconds: r.get(25),
        infra: r.get::<_, i64>(26) != 0,
        analyzed_at: r.get::<_, Option<i64>>(27).map(ms_to_time),
    }
}

pub(super) fn test_row(r: &Row) -> Test {
    Test {
        id: r.get(0),
        suite_id: r.get(1),
        scope: r.get(2),
        name: r.get(3),
        file_name: r.get(4),
        location: r.get(5),
        first_seen: ms_to_time(r.get(6)),
        last_seen: ms_to_time(r.get(7)),
    }
}

pub(super) fn outcome(code: i16) -> Outcome {
    Outcome::from_code(code.into()).unwrap_or(Outcome::Unknown)
}

pub(super) async fn suites(c: &Client) -> Result<Vec<Suite>, StoreError> {
    let rows = c.query(&format!("SELECT {SUITE_COLS} FROM suites ORDER BY slug"), &[]).await?;
    Ok(rows.iter().map(suite_row).collect())
}

/// `column` is one of our own column names, never user input.
pub(super) async fn suite_where(c: &Client, column: &'static str, value: &str) -> Result<Option<Suite>, StoreError> {
    let row = c.query_opt(&format!("SELECT {SUITE_COLS} FROM suites WHERE {column} = $1"), &[&value]).await?;
    Ok(row.as_ref().map(suite_row))
}

pub(super) async fn runs(c: &Client, suite_id: i64, f: &RunFilter) -> Result<Vec<Run>, StoreError> {
    let result = f.result.map(|r| r.as_str());
    let (limit, offset) = (f.page.limit(), f.page.offset());
    let args: [&(dyn ToSql + Sync); 11] =
        [&suite_id, &f.branch, &f.commit_sha, &result, &limit, &offset, &f.job, &f.payload, &f.since_ms, &f.until_ms, &f.key];
    let rows = c
        .query(
            &format!(
                "SELECT {RUN_COLS} FROM runs WHERE suite_id = $1
                 AND ($2::text IS NULL OR branch = $2) AND ($3::text IS NULL OR commit_sha = $3) AND ($4::text IS NULL OR result = $4)
                 AND ($7::text IS NULL OR job = $7) AND ($8::text IS NULL OR payload = $8)
                 AND ($9::bigint IS NULL OR created_at >= $9) AND ($10::bigint IS NULL OR created_at < $10)
                 AND ($11::text IS NULL OR key = $11)
                 ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6"
            ),
            &args,
        )
        .await?;
    Ok(rows.iter().map(run_row).collect())
}

pub(super) async fn run(c: &Client, run_id: i64) -> Result<Option<RunDetail>, StoreError> {
    let Some(row) = c.query_opt(&format!("SELECT {RUN_COLS} FROM runs WHERE id = $1"), &[&run_id]).await? else {
        return Ok(None);
    };
    let run = run_row(&row);
    let mut counts = Counts::default();
    for r in c.query("SELECT outcome, count(*) FROM executions WHERE run_id = $1 GROUP BY outcome", &[&run_id]).await? {
        counts.add(outcome(r.get(0)), r.get(1));
    }
    let flaky: i64 = c.query_one("SELECT count(*) FROM run_tests WHERE run_id = $1 AND status & 8 = 8", &[&run_id]).await?.get(0);
    let metrics =
        c.query("SELECT name, value FROM run_metrics WHERE run_id = $1", &[&run_id]).await?.iter().map(|r| (r.get(0), r.get(1))).collect();
    Ok(Some(RunDetail { run, total: counts.total(), counts, flaky, metrics }))
}

pub(super) async fn run_executions(c: &Client, run_id: i64, result: Option<Outcome>, page: Page) -> Result<Vec<Execution>, StoreError> {
    let code = result.map(|o| o.code());
    let cols = execution_cols(Execution::LISTED_REASON_BYTES, Execution::LISTED_DETAIL_BYTES);
    let sql = format!(
        "SELECT {cols} {EXECUTION_FROM} WHERE e.run_id = $1 AND ($2::smallint IS NULL OR e.outcome = $2) ORDER BY e.id LIMIT $3 OFFSET $4"
    );
    let rows = c.query(&sql, &[&run_id, &code, &page.limit(), &page.offset()]).await?;
    Ok(rows.iter().map(|r| execution_row(r, Execution::LISTED_REASON_BYTES)).collect())
}

pub(super) async fn execution(c: &Client, id: i64) -> Result<Option<Execution>, StoreError> {
    let sql = format!("SELECT {} {EXECUTION_FROM} WHERE e.id = $1", execution_cols(WHOLE, WHOLE));
    Ok(c.query_opt(&sql, &[&id]).await?.map(|r| execution_row(&r, WHOLE)))
}

pub(super) async fn execution_output(c: &Client, id: i64) -> Result<Option<ExecutionOutput>, StoreError> {
    let n = verdict_core::caps::MAX_TEXT_BYTES as i64 + 1;
    let row = c
        .query_opt(
            "SELECT left(outputs::jsonb ->> 'system_out', $2::int), left(outputs::jsonb ->> 'system_err', $2::int) FROM executions WHERE id = $1",
            &[&id, &(n as i32)],
        )
        .await?;
    Ok(row.map(|r| output_of(r.get(0), r.get(1))))
}

pub(super) fn execution_row(r: &Row, reason_max: i64) -> Execution {
    Execution {
        id: r.get(0),
        run_id: r.get(1),
        test_id: r.get(2),
        scope: r.get(3),
        name: r.get(4),
        file_name: r.get(5),
        location: r.get(6),
        result: outcome(r.get(7)),
        duration: r.get(8),
        attempt: i64::from(r.get::<_, i32>(9)),
        failure_reason: listed_reason(r.get(10), reason_max),
        detail: r.get::<_, Option<String>>(11).and_then(|s| serde_json::from_str(&s).ok()),
        detail_omitted: r.get(12),
        has_output: r.get(13),
        tags: merged_tags(r.get(16), r.get(14)),
        created_at: ms_to_time(r.get(15)),
    }
}

pub(super) async fn tests(c: &Client, suite_id: i64, f: &TestFilter) -> Result<Vec<TestStats>, StoreError> {
    let (first_day, first_ms) = window_start(f.days);
    let rows = c
        .query(
            &format!(
                "SELECT {TEST_COLS}, coalesce(sum(r.passed), 0)::bigint, coalesce(sum(r.failed), 0)::bigint,
                        coalesce(sum(r.skipped), 0)::bigint, coalesce(sum(r.pending), 0)::bigint,
                        coalesce(sum(r.unknown), 0)::bigint, coalesce(sum(r.flaky), 0)::bigint
                 FROM (SELECT * FROM tests WHERE suite_id = $1 AND ($6::bigint[] IS NULL OR id = ANY($6))
                       ORDER BY scope, name LIMIT $4 OFFSET $5) t
                 LEFT JOIN rollups r ON r.test_id = t.id AND r.day >= $2 AND ($3::text IS NULL OR r.branch = $3)
                 GROUP BY t.id, t.suite_id, t.scope, t.name, t.file_name, t.location, t.first_seen, t.last_seen
                 ORDER BY t.scope, t.name"
            ),
            &[&suite_id, &first_day, &f.branch, &f.page.limit(), &f.page.offset(), &f.only],
        )
        .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    // One query for the durations of the whole page.
    let mut durations: std::collections::HashMap<i64, Vec<f64>> = std::collections::HashMap::new();
    for r in c
        .query(
            "SELECT e.test_id, e.duration FROM executions e JOIN runs r ON r.id = e.run_id
             WHERE e.test_id = ANY($1) AND e.created_at >= $2 AND e.duration IS NOT NULL AND ($3::text IS NULL OR r.branch = $3)",
            &[&ids, &first_ms, &f.branch],
        )
        .await?
    {
        durations.entry(r.get(0)).or_default().push(r.get(1));
    }
    Ok(rows
        .iter()
        .map(|r| {
            let test = test_row(r);
            let counts = Counts { passed: r.get(8), failed: r.get(9), skipped: r.get(10), pending: r.get(11), unknown: r.get(12) };
            let d = durations.remove(&test.id).unwrap_or_default();
            TestStats::from_parts(test, counts, r.get(13), d)
        })
        .collect())
}

pub(super) async fn test(c: &Client, test_id: i64) -> Result<Option<Test>, StoreError> {
    let row = c.query_opt(&format!("SELECT {TEST_COLS} FROM tests t WHERE t.id = $1"), &[&test_id]).await?;
    Ok(row.as_ref().map(test_row))
}

pub(super) async fn test_history(c: &Client, test_id: i64, f: &HistoryFilter, page: Page) -> Result<Vec<HistoryEntry>, StoreError> {
    let code = f.result.map(|o| o.code());
    let rows = c
        .query(
            "SELECT e.id, e.run_id, e.outcome, e.duration, e.attempt, e.failure_reason, r.branch, r.commit_sha, r.url, r.number, e.created_at
             FROM executions e JOIN runs r ON r.id = e.run_id
             WHERE e.test_id = $1 AND ($4::text IS NULL OR r.branch = $4) AND ($5::smallint IS NULL OR e.outcome = $5)
             ORDER BY e.created_at DESC, e.id DESC LIMIT $2 OFFSET $3",
            &[&test_id, &page.limit(), &page.offset(), &f.branch, &code],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| HistoryEntry {
            execution_id: r.get(0),
            run_id: r.get(1),
            result: outcome(r.get(2)),
            duration: r.get(3),
            attempt: i64::from(r.get::<_, i32>(4)),
            failure_reason: r.get(5),
            branch: r.get(6),
            commit_sha: r.get(7),
            url: r.get(8),
            number: r.get(9),
            created_at: ms_to_time(r.get(10)),
        })
        .collect())
}

pub(super) async fn batch_results(c: &Client, suite_id: i64, job: &str, payload: &str) -> Result<Vec<BatchResult>, StoreError> {
    let rows = c
        .query(
            "SELECT r.id, r.key, t.scope, t.name, e.outcome
             FROM runs r JOIN executions e ON e.run_id = r.id JOIN tests t ON t.id = e.test_id
             WHERE r.suite_id = $1 AND r.job = $2 AND r.payload = $3
             ORDER BY r.created_at, r.id, e.id",
            &[&suite_id, &job, &payload],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| BatchResult { run_id: r.get(0), run_key: r.get(1), scope: r.get(2), name: r.get(3), outcome: outcome(r.get(4)) })
        .collect())
}

/// The runs a [`RunSelection`] picks, as the CTE `sel`; parameters from [`selection_params`].
const SELECTED_RUNS: &str = "WITH sel AS (
    SELECT id, key, created_at FROM runs WHERE suite_id = $1 AND ($2::text IS NULL OR job = $2) AND ($3::text IS NULL OR branch = $3)
      AND ($4::text IS NULL OR payload = $4) AND ($5::text IS NULL OR payload IS DISTINCT FROM $5) AND created_at >= $6 AND created_at < $7
    ORDER BY created_at DESC, id DESC LIMIT $8)";

fn selection_params<'a>(suite_id: &'a i64, sel: &'a RunSelection) -> [&'a (dyn ToSql + Sync); 8] {
    [suite_id, &sel.job, &sel.branch, &sel.payload, &sel.exclude_payload, &sel.since_ms, &sel.until_ms, &sel.max_runs]
}

pub(super) async fn test_durations(c: &Client, suite_id: i64, sel: &RunSelection) -> Result<Vec<TestDurations>, StoreError> {
    let sql = format!(
        "{SELECTED_RUNS} SELECT t.scope, t.name, e.duration FROM executions e JOIN tests t ON t.id = e.test_id
         WHERE e.run_id IN (SELECT id FROM sel) AND e.duration IS NOT NULL ORDER BY t.scope, t.name"
    );
    let rows = c.query(&sql, &selection_params(&suite_id, sel)).await?;
    Ok(TestDurations::group(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2)))))
}

pub(super) async fn test_records(c: &Client, suite_id: i64, sel: &RunSelection) -> Result<Vec<TestRecord>, StoreError> {
    let sql = format!(
        "{SELECTED_RUNS},
         counted AS (
           SELECT rt.test_id, count(*) FILTER (WHERE rt.status & 11 = 1) AS p, count(*) FILTER (WHERE rt.status & 10 = 2) AS f,
                  count(*) FILTER (WHERE rt.status & 8 = 8) AS fl
           FROM run_tests rt WHERE rt.run_id IN (SELECT id FROM sel) GROUP BY rt.test_id)
         SELECT t.scope, t.name, c.p, c.f, c.fl, t.id FROM counted c JOIN tests t ON t.id = c.test_id ORDER BY t.scope, t.name"
    );
    let rows = c.query(&sql, &selection_params(&suite_id, sel)).await?;
    Ok(rows
        .iter()
        .map(|r| TestRecord { test_id: r.get(5), scope: r.get(0), name: r.get(1), passed: r.get(2), failed: r.get(3), flaked: r.get(4) })
        .collect())
}

pub(super) async fn run_metrics(c: &Client, suite_id: i64, sel: &RunSelection) -> Result<Vec<RunMetric>, StoreError> {
    let sql = format!(
        "{SELECTED_RUNS} SELECT sel.id, sel.key, m.name, m.value FROM sel JOIN run_metrics m ON m.run_id = sel.id
         ORDER BY sel.created_at, sel.id, m.name"
    );
    let rows = c.query(&sql, &selection_params(&suite_id, sel)).await?;
    Ok(rows.iter().map(|r| RunMetric { run_id: r.get(0), run_key: r.get(1), name: r.get(2), value: r.get(3) }).collect())
}
