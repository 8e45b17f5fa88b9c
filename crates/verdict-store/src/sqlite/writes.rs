use super::now_ms;
use crate::clusters::{ClusterPlan, StoredRule, has_reasons, plan_clusters};
use crate::error::StoreError;
use crate::plan::{WritePlan, day_of, detail_json, job_metric_rows, outputs_json, run_count_delta, tags_json, test_row_is_stale};
use crate::views::*;
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::HashMap;
use verdict_core::Upload;

pub(super) fn create_suite(c: &Connection, s: &NewSuite) -> Result<Suite, StoreError> {
    let now = now_ms();
    let inserted = c
        .prepare_cached(
            "INSERT INTO suites (slug, name, default_branch, token_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (slug) DO NOTHING RETURNING id",
        )?
        .query_row(params![s.slug.as_str(), s.name, s.default_branch, s.token_hash, now], |r| r.get::<_, i64>(0))
        .optional()?;
    let id = inserted.ok_or_else(|| StoreError::Conflict(format!("a suite with slug {:?} already exists", s.slug.as_str())))?;
    Ok(s.stored(id, now))
}

pub(super) fn set_suite_links(c: &Connection, slug: &str, links: &SuiteLinks) -> Result<(), StoreError> {
    let changed = c
        .prepare_cached(
            "UPDATE suites SET commit_url = CASE WHEN ?2 IS NULL THEN commit_url ELSE nullif(?2, '') END,
                               file_url = CASE WHEN ?3 IS NULL THEN file_url ELSE nullif(?3, '') END
             WHERE slug = ?1",
        )?
        .execute(params![slug, links.commit_url, links.file_url])?;
    match changed {
        0 => Err(StoreError::NotFound(format!("no suite with slug {slug:?}"))),
        _ => Ok(()),
    }
}

pub(super) fn set_token_hash(c: &Connection, slug: &str, hash: &str) -> Result<(), StoreError> {
    match c.prepare_cached("UPDATE suites SET token_hash = ?2 WHERE slug = ?1")?.execute(params![slug, hash])? {
        0 => Err(StoreError::NotFound(format!("no suite with slug {slug:?}"))),
        _ => Ok(()),
    }
}

/// Store `up` as arrived at `now` (ms): the time of its run, executions and rollup day.
pub(super) fn upload(c: &Connection, suite_id: i64, up: &Upload, now: i64) -> Result<UploadReceipt, StoreError> {
    let plan = WritePlan::new(up);
    let env = &up.run_env;
    let extra = (!env.extra.is_empty()).then(|| serde_json::to_string(&env.extra).unwrap_or_default());
    let (run_id, branch, uploads): (i64, Option<String>, i64) = c
        .prepare_cached(
            "INSERT INTO runs (suite_id, key, ci, url, branch, commit_sha, number, job_id, message, env,
                               state, result, uploads, created_at, updated_at, job, payload)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'finished', ?11, 1, ?12, ?12, ?13, ?14)
             ON CONFLICT (suite_id, key) DO UPDATE SET
               ci = coalesce(excluded.ci, ci), url = coalesce(excluded.url, url),
               branch = coalesce(excluded.branch, branch), commit_sha = coalesce(excluded.commit_sha, commit_sha),
               number = coalesce(excluded.number, number), job_id = coalesce(excluded.job_id, job_id),
               message = coalesce(excluded.message, message), env = coalesce(excluded.env, env),
               job = coalesce(excluded.job, job), payload = coalesce(excluded.payload, payload),
               state = 'finished',
               result = CASE WHEN result = 'failed' OR excluded.result = 'failed' THEN 'failed'
                             WHEN result = 'passed' OR excluded.result = 'passed' THEN 'passed'
                             ELSE 'pending' END,
               uploads = uploads + 1, updated_at = excluded.updated_at
             RETURNING id, branch, uploads",
        )?
        .query_row(
            params![
                suite_id,
                env.key,
                env.ci,
                env.url,
                env.branch,
                env.commit_sha,
                env.number,
                env.job_id,
                env.message,
                extra,
                plan.result.as_str(),
                now,
                env.job,
                env.payload
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
    // The run's statuses before this upload (none for a new run), for the rollups' run counts.
    let before: HashMap<i64, i64> = if uploads > 1 {
        let mut st = c.prepare_cached("SELECT test_id, status FROM run_tests WHERE run_id = ?1")?;
        let rows = st.query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    } else {
        HashMap::new()
    };

    let upload_id = uuid::Uuid::new_v4().to_string();
    c.prepare_cached("INSERT INTO uploads (id, run_id, format, tags, queued, skipped, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
        .execute(params![upload_id, run_id, up.format, tags_json(&up.tags), up.executions.len() as i64, up.skipped.len() as i64, now])?;

    let mut test_ids = Vec::with_capacity(plan.tests.len());
    {
        let mut find =
            c.prepare_cached("SELECT id, file_name, location, last_seen FROM tests WHERE suite_id = ?1 AND scope = ?2 AND name = ?3")?;
        let mut insert = c.prepare_cached(
            "INSERT INTO tests (suite_id, scope, name, file_name, location, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) RETURNING id",
        )?;
        let mut refresh = c.prepare_cached(
            "UPDATE tests SET file_name = coalesce(?2, file_name), location = coalesce(?3, location), last_seen = ?4 WHERE id = ?1",
        )?;
        for t in &plan.tests {
            let found = find
                .query_row(params![suite_id, t.scope, t.name], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?, r.get::<_, i64>(3)?)))
                .optional()?;
            let id = match found {
                None => insert.query_row(params![suite_id, t.scope, t.name, t.file_name, t.location, now], |r| r.get::<_, i64>(0))?,
                Some((id, file_name, location, last_seen)) => {
                    if test_row_is_stale((&file_name, &location, last_seen), t, now) {
                        refresh.execute(params![id, t.file_name, t.location, now])?;
                    }
                    id
                }
            };
            test_ids.push(id);
        }
    }
    let (rules, settings) = rules_for(c, suite_id, up)?;
    let clusters = plan_clusters(up, &plan.test_of, &rules, &settings);
    {
        let mut insert = c.prepare_cached(
            "INSERT INTO executions (run_id, test_id, upload_id, outcome, duration, attempt, failure_reason, detail, tags, created_at, outputs, cluster_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for ((e, &t), cluster) in up.executions.iter().zip(&plan.test_of).zip(&clusters.ids) {
            insert.execute(params![
                run_id,
                test_ids[t],
                upload_id,
                e.outcome.code(),
                e.duration,
                e.attempt,
                e.failure_reason,
                detail_json(e),
                tags_json(&e.tags),
                now,
                outputs_json(e),
                cluster
            ])?;
        }
    }
    let metrics = job_metric_rows(up, &plan.test_of, &test_ids);
    if !metrics.is_empty() {
        let mut insert = c.prepare_cached(
            "INSERT INTO job_metrics (run_id, test_id, name, value) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (run_id, test_id, name) DO UPDATE SET value = excluded.value",
        )?;
        for (test_id, name, value) in metrics {
            insert.execute(params![run_id, test_id, name, value])?;
        }
    }
    write_clusters(c, suite_id, run_id, now, &clusters, &test_ids)?;
    let run = (run_id, env.commit_sha.as_deref());
    super::webhooks::announce_clusters(c, suite_id, run, branch.as_deref(), &clusters, (&plan.tests, &test_ids), now)?;
    {
        let mut rollup = c.prepare_cached(
            "INSERT INTO rollups (test_id, branch, day, passed, failed, skipped, pending, unknown, flaky, duration_sum, duration_count,
                                  runs_passed, runs_failed, runs_flaky)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (test_id, branch, day) DO UPDATE SET
               passed = passed + excluded.passed, failed = failed + excluded.failed,
               skipped = skipped + excluded.skipped, pending = pending + excluded.pending,
               unknown = unknown + excluded.unknown, flaky = flaky + excluded.flaky,
               duration_sum = duration_sum + excluded.duration_sum,
               duration_count = duration_count + excluded.duration_count,
               runs_passed = runs_passed + excluded.runs_passed, runs_failed = runs_failed + excluded.runs_failed,
               runs_flaky = runs_flaky + excluded.runs_flaky",
        )?;
        let branch = branch.unwrap_or_default();
        let day = day_of(now);
        // What this upload changes in the run's tests by outcome (passed, failed, flaky, skipped).
        let mut tests_delta = [0i64; 4];
        let mut status = c.prepare_cached(
            "INSERT INTO run_tests (run_id, test_id, status, duration) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (run_id, test_id) DO UPDATE SET status = status | excluded.status
               | CASE WHEN (status & 1 AND excluded.status & 2) OR (status & 2 AND excluded.status & 1) THEN 8 ELSE 0 END,
               duration = CASE WHEN excluded.duration IS NULL THEN duration ELSE coalesce(duration, 0) + excluded.duration END",
        )?;
        for (r, &id) in plan.rollups.iter().zip(&test_ids) {
            let [p, f, s, pe, u] = r.counts;
            let delta = run_count_delta(before.get(&id).copied(), r.run_status().into());
            for (sum, d) in tests_delta.iter_mut().zip(delta) {
                *sum += d;
            }
            let [rp, rf, rk, _] = delta;
            rollup.execute(params![id, branch, day, p, f, s, pe, u, r.flaky, r.duration_sum, r.duration_count, rp, rf, rk])?;
            status.execute(params![run_id, id, r.run_status(), r.run_duration()])?;
        }
        // The run's counts, moved by what this upload changed (a passed test
        // can become flaky in a second upload of the run).
        let totals = plan.run_totals();
        let [tp, tf, tk, ts] = tests_delta;
        c.prepare_cached(
            "UPDATE runs SET tests_passed = tests_passed + ?6, tests_failed = tests_failed + ?7,
               tests_flaky = tests_flaky + ?8, tests_skipped = tests_skipped + ?9,
               executions_passed = executions_passed + ?2, executions_failed = executions_failed + ?3,
               executions_total = executions_total + ?4, test_seconds = test_seconds + ?5
             WHERE id = ?1",
        )?
        .execute(params![run_id, totals.passed, totals.failed, totals.total, totals.seconds, tp, tf, tk, ts])?;
    }
    if !up.executions.is_empty() {
        // For the flaky analysis step, in this transaction: accepted means it will be analysed.
        c.prepare_cached("INSERT INTO analysis_queue (suite_id, run_id, upload_id, queued_at) VALUES (?1, ?2, ?3, ?4)")?
            .execute(params![suite_id, run_id, upload_id, now])?;
    }
    Ok(UploadReceipt { upload_id, run_id, queued: up.executions.len() })
}

/// The suite's cluster rules and settings, read only when the upload has a failure to cluster.
fn rules_for(c: &Connection, suite_id: i64, up: &Upload) -> Result<(Vec<StoredRule>, verdict_core::flaky::Settings), StoreError> {
    if !has_reasons(up) {
        return Ok(Default::default());
    }
    let json: Option<String> = c.prepare_cached("SELECT flaky_settings FROM suites WHERE id = ?1")?.query_row([suite_id], |r| r.get(0))?;
    Ok((super::clusters::rules(c, suite_id)?, crate::flaky::settings_of(json.as_deref())))
}

/// The clusters' rows and counts for one upload (see `crate::clusters`).
pub(super) fn write_clusters(
    c: &Connection,
    suite_id: i64,
    run_id: i64,
    now: i64,
    plan: &ClusterPlan,
    test_ids: &[i64],
) -> Result<(), StoreError> {
    let day = day_of(now);
    for g in &plan.groups {
        c.prepare_cached(
            "INSERT INTO clusters (suite_id, cluster_id, algorithm, title, first_seen, last_seen, example_execution_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, (SELECT max(id) FROM executions WHERE cluster_id = ?2))
             ON CONFLICT (suite_id, cluster_id) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen),
               example_execution_id = excluded.example_execution_id, title = excluded.title, algorithm = excluded.algorithm",
        )?
        .execute(params![suite_id, g.id, g.algorithm, g.title, now])?;
        if !plan.counted {
            continue;
        }
        c.prepare_cached(
            "INSERT INTO cluster_days (suite_id, cluster_id, day, failures) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (suite_id, cluster_id, day) DO UPDATE SET failures = failures + excluded.failures",
        )?
        .execute(params![suite_id, g.id, day, g.failures])?;
        let mut member = c.prepare_cached(
            "INSERT INTO cluster_tests (suite_id, cluster_id, day, test_id, failures, last_failed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (suite_id, cluster_id, day, test_id) DO UPDATE SET failures = failures + excluded.failures,
               last_failed_at = max(last_failed_at, excluded.last_failed_at)",
        )?;
        for &(t, n) in &g.tests {
            member.execute(params![suite_id, g.id, day, test_ids[t], n, now])?;
        }
        c.prepare_cached("INSERT INTO cluster_runs (suite_id, cluster_id, run_id, day) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING")?
            .execute(params![suite_id, g.id, run_id, day])?;
    }
    Ok(())
}

pub(super) fn run_metrics(c: &Connection, run_id: i64, metrics: &[(String, f64)]) -> Result<(), StoreError> {
    let exists = c.prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?.query_row([run_id], |_| Ok(())).optional()?;
    if exists.is_none() {
        return Err(StoreError::NotFound(format!("no run {run_id}")));
    }
    let now = now_ms();
    let mut set = c.prepare_cached(
        "INSERT INTO run_metrics (run_id, name, value, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (run_id, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?;
    for (name, value) in metrics {
        set.execute(params![run_id, name, value, now])?;
    }
    Ok(())
}
