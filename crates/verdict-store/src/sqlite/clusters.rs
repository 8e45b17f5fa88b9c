//! Failure clusters on SQLite (see `crate::clusters`).

use super::SqliteStore;
use super::reads::{TEST_COLS, test_row};
use crate::clusters::*;
use crate::error::StoreError;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::BTreeMap;

pub(super) fn rules(c: &Connection, suite_id: i64) -> Result<Vec<StoredRule>, StoreError> {
    let mut st =
        c.prepare_cached("SELECT id, name, kind, pattern, bug_url, priority FROM cluster_rules WHERE suite_id = ?1 ORDER BY priority, id")?;
    let rows = st.query_map([suite_id], |r| {
        Ok(StoredRule::from_parts(r.get(0)?, r.get(1)?, &r.get::<_, String>(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

const CLUSTER_COLS: &str =
    "c.cluster_id, c.algorithm, c.title, c.first_seen, c.last_seen, c.example_execution_id, e.failure_reason, e.test_id";

fn cluster_row(r: &Row<'_>) -> rusqlite::Result<ClusterRow> {
    Ok(ClusterRow {
        id: r.get(0)?,
        algorithm: r.get(1)?,
        title: r.get(2)?,
        first_seen_ms: r.get(3)?,
        last_seen_ms: r.get(4)?,
        example_execution_id: r.get(5)?,
        example_reason: r.get(6)?,
        example_test_id: r.get::<_, Option<i64>>(7)?.unwrap_or(0),
        impact: BTreeMap::new(),
    })
}

/// Failures, distinct tests and runs of a cluster since `first_day`.
fn impact(c: &Connection, suite_id: i64, id: &str, first_day: i64) -> Result<Impact, StoreError> {
    let one =
        |sql: &str| -> Result<i64, StoreError> { Ok(c.prepare_cached(sql)?.query_row(params![suite_id, id, first_day], |r| r.get(0))?) };
    Ok(Impact {
        failures: one("SELECT coalesce(sum(failures), 0) FROM cluster_days WHERE suite_id = ?1 AND cluster_id = ?2 AND day >= ?3")?,
        tests: one("SELECT count(DISTINCT test_id) FROM cluster_tests WHERE suite_id = ?1 AND cluster_id = ?2 AND day >= ?3")?,
        runs: one("SELECT count(*) FROM cluster_runs WHERE suite_id = ?1 AND cluster_id = ?2 AND day >= ?3")?,
    })
}

fn with_impact(c: &Connection, suite_id: i64, mut row: ClusterRow, today: i64, window_days: i64) -> Result<ClusterRow, StoreError> {
    for days in IMPACT_DAYS.iter().copied().chain([window_days]) {
        let i = impact(c, suite_id, &row.id, today - days + 1)?;
        row.impact.insert(days, i);
    }
    Ok(row)
}

fn clusters(
    c: &Connection,
    suite_id: i64,
    today: i64,
    window_days: i64,
    limit: i64,
    only: Option<String>,
) -> Result<Vec<ClusterRow>, StoreError> {
    let sql = clusters_sql(CLUSTER_COLS, only.is_some().then_some("test_id IN (SELECT value FROM json_each(?4))"), "?4");
    let mut st = c.prepare_cached(&sql)?;
    let rows: Vec<ClusterRow> =
        st.query_map(params![suite_id, today - window_days + 1, limit, only], cluster_row)?.collect::<Result<_, _>>()?;
    rows.into_iter().map(|r| with_impact(c, suite_id, r, today, window_days)).collect()
}

fn cluster(c: &Connection, suite_id: i64, id: &str, today: i64, window_days: i64) -> Result<Option<ClusterRow>, StoreError> {
    let sql = format!(
        "SELECT {CLUSTER_COLS} FROM clusters c LEFT JOIN executions e ON e.id = c.example_execution_id WHERE c.suite_id = ?1 AND c.cluster_id = ?2"
    );
    let row = c.prepare_cached(&sql)?.query_row(params![suite_id, id], cluster_row).optional()?;
    row.map(|r| with_impact(c, suite_id, r, today, window_days)).transpose()
}

fn cluster_days(c: &Connection, suite_id: i64, id: &str, first_day: i64, end_day: i64) -> Result<Vec<ClusterDay>, StoreError> {
    let mut days: BTreeMap<i64, ClusterDay> = (first_day..end_day).map(|d| (d, ClusterDay { day: d, ..ClusterDay::default() })).collect();
    for (sql, set) in DAY_COUNTS {
        let mut st = c.prepare_cached(sql)?;
        for row in st.query_map(params![suite_id, id, first_day, end_day], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))? {
            let (day, n) = row?;
            if let Some(d) = days.get_mut(&day) {
                set(d, n);
            }
        }
    }
    Ok(days.into_values().collect())
}

fn cluster_tests(c: &Connection, suite_id: i64, id: &str, first_day: i64, limit: i64) -> Result<Vec<ClusterTest>, StoreError> {
    let sql = format!(
        "SELECT {TEST_COLS}, m.n, m.last FROM (SELECT test_id, sum(failures) n, max(last_failed_at) last FROM cluster_tests
                                             WHERE suite_id = ?1 AND cluster_id = ?2 AND day >= ?3 GROUP BY test_id) m
         JOIN tests t ON t.id = m.test_id ORDER BY m.n DESC, t.id LIMIT ?4"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params![suite_id, id, first_day, limit], |r| {
        Ok(ClusterTest { test: test_row(r)?, failures: r.get(8)?, last_failed_ms: r.get(9)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn cluster_failures(c: &Connection, suite_id: i64, id: &str, limit: i64) -> Result<Vec<ClusterFailure>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT e.id, e.test_id, e.run_id, r.branch, r.commit_sha, e.created_at, e.failure_reason, r.url
         FROM executions e JOIN runs r ON r.id = e.run_id
         WHERE e.cluster_id = ?2 AND r.suite_id = ?1 ORDER BY e.id DESC LIMIT ?3",
    )?;
    let rows = st.query_map(params![suite_id, id, limit], |r| {
        Ok(ClusterFailure {
            execution_id: r.get(0)?,
            test_id: r.get(1)?,
            run_id: r.get(2)?,
            branch: r.get(3)?,
            commit: r.get(4)?,
            at_ms: r.get(5)?,
            reason: r.get(6)?,
            run_url: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn run_clusters(c: &Connection, run_id: i64) -> Result<Vec<(String, String, i64)>, StoreError> {
    let mut st = c.prepare_cached(
        "SELECT e.cluster_id, c.title, count(*) FROM executions e JOIN runs r ON r.id = e.run_id
           JOIN clusters c ON c.suite_id = r.suite_id AND c.cluster_id = e.cluster_id
         WHERE e.run_id = ?1 AND e.outcome = 1 AND e.cluster_id IS NOT NULL GROUP BY e.cluster_id, c.title ORDER BY count(*) DESC, e.cluster_id",
    )?;
    let rows = st.query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn recluster(c: &Connection, suite_id: i64, since_ms: i64) -> Result<usize, StoreError> {
    let json: Option<String> = c.prepare_cached("SELECT flaky_settings FROM suites WHERE id = ?1")?.query_row([suite_id], |r| r.get(0))?;
    let (rules, settings) = (rules(c, suite_id)?, crate::flaky::settings_of(json.as_deref()));
    let since_day = since_ms.div_euclid(86_400_000);
    for table in ["cluster_days", "cluster_tests", "cluster_runs"] {
        c.prepare_cached(&format!("DELETE FROM {table} WHERE suite_id = ?1 AND day >= ?2"))?.execute(params![suite_id, since_day])?;
    }
    // Whole days, as the counts are kept by day.
    let from = since_day * 86_400_000;
    let mut st = c.prepare_cached(
        "SELECT e.id, e.run_id, e.upload_id, e.test_id, e.outcome, e.failure_reason, e.created_at FROM executions e
         WHERE e.run_id IN (SELECT id FROM runs WHERE suite_id = ?1 AND updated_at >= ?2) AND e.created_at >= ?2
         ORDER BY e.upload_id, e.id",
    )?;
    let rows: Vec<StoredExecution> = st
        .query_map(params![suite_id, from], |r| {
            Ok(StoredExecution {
                id: r.get(0)?,
                run_id: r.get(1)?,
                upload_id: r.get(2)?,
                test_id: r.get(3)?,
                outcome: super::reads::outcome(r.get(4)?),
                failure_reason: r.get(5)?,
                created_at: r.get(6)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut clustered = 0;
    let mut set = c.prepare_cached("UPDATE executions SET cluster_id = ?2 WHERE id = ?1")?;
    for upload in rows.chunk_by(|a, b| a.upload_id == b.upload_id) {
        let (up, test_of, test_ids) = upload_of(upload);
        let plan = plan_clusters(&up, &test_of, &rules, &settings);
        for (e, id) in upload.iter().zip(&plan.ids) {
            if e.outcome == verdict_core::Outcome::Failed {
                set.execute(params![e.id, id])?;
                clustered += usize::from(id.is_some());
            }
        }
        super::writes::write_clusters(c, suite_id, upload[0].run_id, upload[0].created_at, &plan, &test_ids)?;
    }
    Ok(clustered)
}

#[async_trait]
impl ClustersStore for SqliteStore {
    async fn clusters(
        &self,
        suite_id: i64,
        today: i64,
        window_days: i64,
        limit: i64,
        only: Option<&[i64]>,
    ) -> Result<Vec<ClusterRow>, StoreError> {
        let only = super::reads::ids_json(only);
        self.read(move |c| clusters(c, suite_id, today, window_days, limit, only)).await
    }

    async fn cluster(&self, suite_id: i64, id: &str, today: i64, window_days: i64) -> Result<Option<ClusterRow>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| cluster(c, suite_id, &id, today, window_days)).await
    }

    async fn cluster_days(&self, suite_id: i64, id: &str, first_day: i64, end_day: i64) -> Result<Vec<ClusterDay>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| cluster_days(c, suite_id, &id, first_day, end_day)).await
    }

    async fn cluster_tests(&self, suite_id: i64, id: &str, first_day: i64, limit: i64) -> Result<Vec<ClusterTest>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| cluster_tests(c, suite_id, &id, first_day, limit)).await
    }

    async fn cluster_failures(&self, suite_id: i64, id: &str, limit: i64) -> Result<Vec<ClusterFailure>, StoreError> {
        let id = id.to_owned();
        self.read(move |c| cluster_failures(c, suite_id, &id, limit)).await
    }

    async fn run_clusters(&self, run_id: i64) -> Result<Vec<(String, String, i64)>, StoreError> {
        self.read(move |c| run_clusters(c, run_id)).await
    }

    async fn run_test_clusters(&self, run_id: i64) -> Result<Vec<(i64, String)>, StoreError> {
        self.read(move |c| {
            Ok(c.prepare_cached(RUN_TEST_CLUSTERS)?.query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn rules(&self, suite_id: i64) -> Result<Vec<StoredRule>, StoreError> {
        self.read_here(move |c| rules(c, suite_id)).await
    }

    async fn add_rule(&self, suite_id: i64, rule: &StoredRule) -> Result<(), StoreError> {
        let rule = rule.clone();
        self.writer
            .write(move |c| {
                let n: i64 = c.prepare_cached("SELECT count(*) FROM cluster_rules WHERE suite_id = ?1")?.query_row([suite_id], |r| r.get(0))?;
                if n as usize >= MAX_RULES {
                    return Err(StoreError::Conflict(format!("a suite has at most {MAX_RULES} rules; remove one first")));
                }
                let (kind, pattern) = rule.kind();
                c.prepare_cached(
                    "INSERT INTO cluster_rules (id, suite_id, name, kind, pattern, bug_url, priority, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![rule.id, suite_id, rule.name, kind, pattern, rule.bug_url, rule.priority, super::now_ms()])?;
                Ok(())
            })
            .await
    }

    async fn recluster(&self, suite_id: i64, since_ms: i64) -> Result<usize, StoreError> {
        self.writer.write(move |c| recluster(c, suite_id, since_ms)).await
    }

    async fn remove_rule(&self, suite_id: i64, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.writer
            .write(move |c| {
                match c.prepare_cached("DELETE FROM cluster_rules WHERE suite_id = ?1 AND id = ?2")?.execute(params![suite_id, id])? {
                    0 => Err(StoreError::NotFound(format!("no rule {id:?} in this suite"))),
                    _ => Ok(()),
                }
            })
            .await
    }
}
