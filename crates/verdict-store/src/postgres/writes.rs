use super::now_ms;
use crate::clusters::{has_reasons, plan_clusters};
use crate::error::StoreError;
use crate::plan::{TestKey, WritePlan, day_of, detail_json, outputs_json, run_count_delta, tags_json, test_row_is_stale};
use crate::views::*;
use std::collections::HashMap;
use tokio_postgres::{Client, GenericClient};
use verdict_core::Upload;

/// Deadlocks and serialization failures are retried: they are about timing,
/// not about the upload.
const RETRIES: usize = 3;

pub(super) async fn create_suite(c: &Client, s: &NewSuite) -> Result<Suite, StoreError> {
    let now = now_ms();
    let row = c
        .query_opt(
            "INSERT INTO suites (slug, name, default_branch, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (slug) DO NOTHING RETURNING id",
            &[&s.slug.as_str(), &s.name, &s.default_branch, &s.token_hash, &now],
        )
        .await?;
    let row = row.ok_or_else(|| StoreError::Conflict(format!("a suite with slug {:?} already exists", s.slug.as_str())))?;
    Ok(s.stored(row.get(0), now))
}

pub(super) async fn set_suite_links(c: &Client, slug: &str, links: &SuiteLinks) -> Result<(), StoreError> {
    let changed = c
        .execute(
            "UPDATE suites SET commit_url = CASE WHEN $2::text IS NULL THEN commit_url ELSE nullif($2, '') END,
                               file_url = CASE WHEN $3::text IS NULL THEN file_url ELSE nullif($3, '') END
             WHERE slug = $1",
            &[&slug, &links.commit_url, &links.file_url],
        )
        .await?;
    match changed {
        0 => Err(StoreError::NotFound(format!("no suite with slug {slug:?}"))),
        _ => Ok(()),
    }
}

pub(super) async fn set_token_hash(c: &Client, slug: &str, hash: &str) -> Result<(), StoreError> {
    match c.execute("UPDATE suites SET token_hash = $2 WHERE slug = $1", &[&slug, &hash]).await? {
        0 => Err(StoreError::NotFound(format!("no suite with slug {slug:?}"))),
        _ => Ok(()),
    }
}

/// Store `up` as arrived at `now` (ms): the time of its run, executions and rollup day.
pub(super) async fn upload(client: &mut Client, suite_id: i64, up: &Upload, now: i64) -> Result<UploadReceipt, StoreError> {
    let plan = WritePlan::new(up);
    let mut attempt = 0;
    loop {
        let tx = client.transaction().await?;
        match write(&tx, suite_id, up, &plan, now).await {
            Ok(receipt) => {
                tx.commit().await?;
                return Ok(receipt);
            }
            Err(e) if attempt < RETRIES && is_transient(&e) => {
                attempt += 1;
                drop(tx);
                tracing::warn!(attempt, error = %e, "retrying upload transaction");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn is_transient(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE)
}

pub(super) async fn write(
    tx: &impl GenericClient,
    suite_id: i64,
    up: &Upload,
    plan: &WritePlan<'_>,
    now: i64,
) -> Result<UploadReceipt, tokio_postgres::Error> {
    let env = &up.run_env;
    let extra = (!env.extra.is_empty()).then(|| serde_json::to_string(&env.extra).unwrap_or_default());
    let run = tx
        .query_one(
            "INSERT INTO runs (suite_id, key, ci, url, branch, commit_sha, number, job_id, message, env,
                               state, result, uploads, created_at, updated_at, job, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'finished', $11, 1, $12, $12, $13, $14)
             ON CONFLICT (suite_id, key) DO UPDATE SET
               ci = coalesce(EXCLUDED.ci, runs.ci), url = coalesce(EXCLUDED.url, runs.url),
               branch = coalesce(EXCLUDED.branch, runs.branch), commit_sha = coalesce(EXCLUDED.commit_sha, runs.commit_sha),
               number = coalesce(EXCLUDED.number, runs.number), job_id = coalesce(EXCLUDED.job_id, runs.job_id),
               message = coalesce(EXCLUDED.message, runs.message), env = coalesce(EXCLUDED.env, runs.env),
               job = coalesce(EXCLUDED.job, runs.job), payload = coalesce(EXCLUDED.payload, runs.payload),
               state = 'finished',
               result = CASE WHEN runs.result = 'failed' OR EXCLUDED.result = 'failed' THEN 'failed'
                             WHEN runs.result = 'passed' OR EXCLUDED.result = 'passed' THEN 'passed'
                             ELSE 'pending' END,
               uploads = runs.uploads + 1, updated_at = EXCLUDED.updated_at
             RETURNING id, branch, uploads",
            &[
                &suite_id,
                &env.key,
                &env.ci,
                &env.url,
                &env.branch,
                &env.commit_sha,
                &env.number,
                &env.job_id,
                &env.message,
                &extra,
                &plan.result.as_str(),
                &now,
                &env.job,
                &env.payload,
            ],
        )
        .await?;
    let run_id: i64 = run.get(0);
    let branch: Option<String> = run.get(1);
    // The run's statuses before this upload (none for a new run), for the rollups' run counts.
    let before: HashMap<i64, i64> = if run.get::<_, i64>(2) > 1 {
        let rows = tx.query("SELECT test_id, status FROM run_tests WHERE run_id = $1", &[&run_id]).await?;
        rows.iter().map(|r| (r.get::<_, i64>(0), i64::from(r.get::<_, i16>(1)))).collect()
    } else {
        HashMap::new()
    };

    let upload_id = uuid::Uuid::new_v4().to_string();
    let (queued, skipped) = (up.executions.len() as i64, up.skipped.len() as i64);
    tx.execute(
        "INSERT INTO uploads (id, run_id, format, tags, queued, skipped, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[&upload_id, &run_id, &up.format, &tags_json(&up.tags), &queued, &skipped, &now],
    )
    .await?;

    let test_ids = resolve_tests(tx, suite_id, plan, now).await?;

    let n = up.executions.len();
    let mut e_test = Vec::with_capacity(n);
    let mut e_outcome = Vec::with_capacity(n);
    let mut e_duration = Vec::with_capacity(n);
    let mut e_attempt = Vec::with_capacity(n);
    let mut e_reason = Vec::with_capacity(n);
    let mut e_detail = Vec::with_capacity(n);
    let mut e_tags = Vec::with_capacity(n);
    let mut e_outputs = Vec::with_capacity(n);
    for (e, &t) in up.executions.iter().zip(&plan.test_of) {
        e_test.push(test_ids[t]);
        e_outcome.push(e.outcome.code());
        e_duration.push(e.duration);
        e_attempt.push(e.attempt.min(i32::MAX as u32) as i32);
        e_reason.push(e.failure_reason.as_deref());
        e_detail.push(detail_json(e));
        e_tags.push(tags_json(&e.tags));
        e_outputs.push(outputs_json(e));
    }
    let (rules, settings) = if has_reasons(up) {
        // FOR SHARE: uploads cluster side by side, a recluster of the suite (FOR UPDATE) waits for them and they for it.
        let row = tx.query_one("SELECT flaky_settings FROM suites WHERE id = $1 FOR SHARE", &[&suite_id]).await?;
        (super::clusters::rules(tx, suite_id).await?, crate::flaky::settings_of(row.get::<_, Option<String>>(0).as_deref()))
    } else {
        Default::default()
    };
    let clusters = plan_clusters(up, &plan.test_of, &rules, &settings);
    tx.execute(
        "INSERT INTO executions (run_id, test_id, upload_id, outcome, duration, attempt, failure_reason, detail, tags, created_at, outputs, cluster_id)
         SELECT $1, t, $2, o, d, a, r, de, tg, $3, ou, cl
         FROM unnest($4::bigint[], $5::smallint[], $6::float8[], $7::int[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
           AS u(t, o, d, a, r, de, tg, ou, cl)",
        &[&run_id, &upload_id, &now, &e_test, &e_outcome, &e_duration, &e_attempt, &e_reason, &e_detail, &e_tags, &e_outputs, &clusters.ids],
    )
    .await?;
    let metrics = crate::plan::job_metric_rows(up, &plan.test_of, &test_ids);
    if !metrics.is_empty() {
        let (m_test, m_name, m_value): (Vec<i64>, Vec<String>, Vec<f64>) =
            metrics.into_iter().fold((vec![], vec![], vec![]), |(mut t, mut n, mut v), (a, b, c)| {
                t.push(a);
                n.push(b);
                v.push(c);
                (t, n, v)
            });
        tx.execute(
            "INSERT INTO job_metrics (run_id, test_id, name, value)
             SELECT $1, t, n, v FROM unnest($2::bigint[], $3::text[], $4::float8[]) AS u(t, n, v)
             ON CONFLICT (run_id, test_id, name) DO UPDATE SET value = EXCLUDED.value",
            &[&run_id, &m_test, &m_name, &m_value],
        )
        .await?;
    }
    if !clusters.groups.is_empty() {
        super::clusters::write(tx, suite_id, run_id, now, &clusters, &test_ids).await?;
        let run = (run_id, env.commit_sha.as_deref());
        super::webhooks::announce_clusters(tx, suite_id, run, branch.as_deref(), &clusters, (&plan.tests, &test_ids), now).await?;
    }

    // Rollups in test-id order, so concurrent uploads lock rows in one order.
    let mut order: Vec<usize> = (0..test_ids.len()).collect();
    order.sort_by_key(|&i| test_ids[i]);
    let col = |k: usize| -> Vec<i64> { order.iter().map(|&i| plan.rollups[i].counts[k]).collect() };
    let r_test: Vec<i64> = order.iter().map(|&i| test_ids[i]).collect();
    let r_flaky: Vec<i64> = order.iter().map(|&i| plan.rollups[i].flaky).collect();
    let r_sum: Vec<f64> = order.iter().map(|&i| plan.rollups[i].duration_sum).collect();
    let r_count: Vec<i64> = order.iter().map(|&i| plan.rollups[i].duration_count).collect();
    let deltas: Vec<[i64; 4]> =
        order.iter().map(|&i| run_count_delta(before.get(&test_ids[i]).copied(), plan.rollups[i].run_status().into())).collect();
    let run_col = |k: usize| -> Vec<i64> { deltas.iter().map(|d| d[k]).collect() };
    let branch = branch.unwrap_or_default();
    let day = day_of(now);
    tx.execute(
        "INSERT INTO rollups (test_id, branch, day, passed, failed, skipped, pending, unknown, flaky, duration_sum, duration_count,
                              runs_passed, runs_failed, runs_flaky)
         SELECT t, $1, $2, p, f, s, pe, u, fl, ds, dc, rp, rf, rk
         FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::float8[], $11::bigint[],
                     $12::bigint[], $13::bigint[], $14::bigint[])
           AS x(t, p, f, s, pe, u, fl, ds, dc, rp, rf, rk)
         ON CONFLICT (test_id, branch, day) DO UPDATE SET
           passed = rollups.passed + EXCLUDED.passed, failed = rollups.failed + EXCLUDED.failed,
           skipped = rollups.skipped + EXCLUDED.skipped, pending = rollups.pending + EXCLUDED.pending,
           unknown = rollups.unknown + EXCLUDED.unknown, flaky = rollups.flaky + EXCLUDED.flaky,
           duration_sum = rollups.duration_sum + EXCLUDED.duration_sum,
           duration_count = rollups.duration_count + EXCLUDED.duration_count,
           runs_passed = rollups.runs_passed + EXCLUDED.runs_passed, runs_failed = rollups.runs_failed + EXCLUDED.runs_failed,
           runs_flaky = rollups.runs_flaky + EXCLUDED.runs_flaky",
        &[&branch, &day, &r_test, &col(0), &col(1), &col(2), &col(3), &col(4), &r_flaky, &r_sum, &r_count, &run_col(0), &run_col(1), &run_col(2)],
    )
    .await?;
    let r_status: Vec<i16> = order.iter().map(|&i| plan.rollups[i].run_status()).collect();
    let r_duration: Vec<Option<f64>> = order.iter().map(|&i| plan.rollups[i].run_duration()).collect();
    tx.execute(
        "INSERT INTO run_tests (run_id, test_id, status, duration)
         SELECT $1, t, s, d FROM unnest($2::bigint[], $3::smallint[], $4::float8[]) AS x(t, s, d)
         ON CONFLICT (run_id, test_id) DO UPDATE SET status = run_tests.status | EXCLUDED.status
           | CASE WHEN (run_tests.status & 1 <> 0 AND EXCLUDED.status & 2 <> 0) OR (run_tests.status & 2 <> 0 AND EXCLUDED.status & 1 <> 0)
             THEN 8 ELSE 0 END,
           duration = CASE WHEN EXCLUDED.duration IS NULL THEN run_tests.duration ELSE coalesce(run_tests.duration, 0) + EXCLUDED.duration END",
        &[&run_id, &r_test, &r_status, &r_duration],
    )
    .await?;
    // The run's counts, moved by what this upload changed (a passed test can
    // become flaky in a second upload of the run). The run row is locked
    // already (the upsert above), so concurrent uploads serialise here.
    let totals = plan.run_totals();
    let tests: Vec<i64> = (0..4).map(run_col).map(|c| c.iter().sum()).collect();
    tx.execute(
        "UPDATE runs SET tests_passed = tests_passed + $6, tests_failed = tests_failed + $7,
           tests_flaky = tests_flaky + $8, tests_skipped = tests_skipped + $9,
           executions_passed = executions_passed + $2, executions_failed = executions_failed + $3,
           executions_total = executions_total + $4, test_seconds = test_seconds + $5
         WHERE id = $1",
        &[&run_id, &totals.passed, &totals.failed, &totals.total, &totals.seconds, &tests[0], &tests[1], &tests[2], &tests[3]],
    )
    .await?;
    if !up.executions.is_empty() {
        // For the flaky analysis step, in this transaction: accepted means it will be analysed.
        tx.execute(
            "INSERT INTO analysis_queue (suite_id, run_id, upload_id, queued_at) VALUES ($1, $2, $3, $4)",
            &[&suite_id, &run_id, &upload_id, &now],
        )
        .await?;
    }
    Ok(UploadReceipt { upload_id, run_id, queued: up.executions.len() })
}

/// The id of every test of the plan, in plan order. Existing rows are read,
/// not rewritten; missing ones are inserted; changed or hour-old ones updated.
async fn resolve_tests(tx: &impl GenericClient, suite_id: i64, plan: &WritePlan<'_>, now: i64) -> Result<Vec<i64>, tokio_postgres::Error> {
    let index: HashMap<(&str, &str), usize> = plan.tests.iter().enumerate().map(|(i, t)| ((t.scope, t.name), i)).collect();
    let mut ids: Vec<Option<i64>> = vec![None; plan.tests.len()];
    let mut stale: Vec<i64> = Vec::new();
    let mut stale_keys: Vec<&TestKey<'_>> = Vec::new();
    let select = "SELECT t.id, t.scope, t.name, t.file_name, t.location, t.last_seen
                  FROM tests t WHERE t.suite_id = $1 AND t.identity = ANY($2::bytea[])";
    // Hashed once per test of the plan; the inserts and the re-read take theirs from here.
    let identities: Vec<Vec<u8>> = plan.tests.iter().map(|t| super::test_identity(t.scope, t.name)).collect();
    let missing_identities = |ids: &[Option<i64>]| -> Vec<&[u8]> {
        identities.iter().zip(ids).filter(|(_, id)| id.is_none()).map(|(h, _)| h.as_slice()).collect()
    };
    for r in tx.query(select, &[&suite_id, &identities]).await? {
        let i = index[&(r.get::<_, &str>(1), r.get::<_, &str>(2))];
        let id: i64 = r.get(0);
        ids[i] = Some(id);
        if test_row_is_stale((&r.get(3), &r.get(4), r.get(5)), &plan.tests[i], now) {
            stale.push(id);
            stale_keys.push(&plan.tests[i]);
        }
    }
    let missing: Vec<&TestKey<'_>> = plan.tests.iter().zip(&ids).filter(|(_, id)| id.is_none()).map(|(t, _)| t).collect();
    if !missing.is_empty() {
        let s: Vec<&str> = missing.iter().map(|t| t.scope).collect();
        let n: Vec<&str> = missing.iter().map(|t| t.name).collect();
        let f: Vec<Option<&str>> = missing.iter().map(|t| t.file_name).collect();
        let l: Vec<Option<&str>> = missing.iter().map(|t| t.location).collect();
        let h = missing_identities(&ids);
        let inserted = tx
            .query(
                "INSERT INTO tests (suite_id, identity, scope, name, file_name, location, first_seen, last_seen)
                 SELECT $1, h, s, n, f, l, $6, $6
                 FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $7::bytea[]) WITH ORDINALITY AS u(s, n, f, l, h, i) ORDER BY i
                 ON CONFLICT (suite_id, identity) DO NOTHING
                 RETURNING id, scope, name",
                &[&suite_id, &s, &n, &f, &l, &now, &h],
            )
            .await?;
        for r in &inserted {
            ids[index[&(r.get::<_, &str>(1), r.get::<_, &str>(2))]] = Some(r.get(0));
        }
        // Tests a concurrent upload inserted first: read them now that it has committed.
        if inserted.len() < missing.len() {
            let still = missing_identities(&ids);
            for r in tx.query(select, &[&suite_id, &still]).await? {
                ids[index[&(r.get::<_, &str>(1), r.get::<_, &str>(2))]] = Some(r.get(0));
            }
        }
    }
    if !stale.is_empty() {
        // In id order, so that concurrent uploads lock the rows in one order.
        let mut order: Vec<usize> = (0..stale.len()).collect();
        order.sort_by_key(|&i| stale[i]);
        let stale: Vec<i64> = order.iter().map(|&i| stale[i]).collect();
        let f: Vec<Option<&str>> = order.iter().map(|&i| stale_keys[i].file_name).collect();
        let l: Vec<Option<&str>> = order.iter().map(|&i| stale_keys[i].location).collect();
        tx.execute(
            "UPDATE tests SET file_name = coalesce(u.f, tests.file_name), location = coalesce(u.l, tests.location), last_seen = $4
             FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, f, l) WHERE tests.id = u.id",
            &[&stale, &f, &l, &now],
        )
        .await?;
    }
    Ok(ids.into_iter().map(|id| id.expect("every test was found or inserted")).collect())
}

pub(super) async fn run_metrics(c: &Client, run_id: i64, metrics: &[(String, f64)]) -> Result<(), StoreError> {
    if c.query_opt("SELECT 1 FROM runs WHERE id = $1", &[&run_id]).await?.is_none() {
        return Err(StoreError::NotFound(format!("no run {run_id}")));
    }
    // One statement, so all or none; one row per name (the last value given wins).
    let last: std::collections::BTreeMap<&str, f64> = metrics.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let names: Vec<&str> = last.keys().copied().collect();
    let values: Vec<f64> = last.values().copied().collect();
    c.execute(
        "INSERT INTO run_metrics (run_id, name, value, updated_at) SELECT $1, n, v, $4 FROM unnest($2::text[], $3::float8[]) AS u(n, v)
         ON CONFLICT (run_id, name) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at",
        &[&run_id, &names, &values, &now_ms()],
    )
    .await?;
    Ok(())
}
