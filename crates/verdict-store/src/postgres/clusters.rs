//! Failure clusters on PostgreSQL (see `crate::clusters`).

use super::reads::{TEST_COLS, test_row};
use super::{PgStore, dollars};
use crate::clusters::*;
use crate::error::StoreError;
use crate::plan::day_of;
use async_trait::async_trait;
use std::collections::BTreeMap;
use tokio_postgres::{GenericClient, Row};

pub(super) async fn rules(c: &impl GenericClient, suite_id: i64) -> Result<Vec<StoredRule>, tokio_postgres::Error> {
    let rows = c
        .query(
            "SELECT id, name, kind, pattern, bug_url, priority FROM cluster_rules WHERE suite_id = $1 ORDER BY priority, id",
            &[&suite_id],
        )
        .await?;
    Ok(rows.iter().map(|r| StoredRule::from_parts(r.get(0), r.get(1), r.get::<_, &str>(2), r.get(3), r.get(4), r.get(5))).collect())
}

/// The clusters' rows and counts for one upload, in cluster-id order (one lock order for concurrent uploads).
pub(super) async fn write(
    tx: &impl GenericClient,
    suite_id: i64,
    run_id: i64,
    now: i64,
    plan: &ClusterPlan,
    test_ids: &[i64],
) -> Result<(), tokio_postgres::Error> {
    let day = day_of(now);
    let ids: Vec<&str> = plan.groups.iter().map(|g| g.id.as_str()).collect();
    let algorithms: Vec<&str> = plan.groups.iter().map(|g| g.algorithm).collect();
    let titles: Vec<&str> = plan.groups.iter().map(|g| g.title.as_str()).collect();
    tx.execute(
        "INSERT INTO clusters (suite_id, cluster_id, algorithm, title, first_seen, last_seen, example_execution_id)
         SELECT $1, id, al, ti, $2, $2, (SELECT max(e.id) FROM executions e WHERE e.cluster_id = x.id)
         FROM unnest($3::text[], $4::text[], $5::text[]) AS x(id, al, ti)
         ON CONFLICT (suite_id, cluster_id) DO UPDATE SET last_seen = greatest(clusters.last_seen, EXCLUDED.last_seen),
           example_execution_id = EXCLUDED.example_execution_id, title = EXCLUDED.title, algorithm = EXCLUDED.algorithm",
        &[&suite_id, &now, &ids, &algorithms, &titles],
    )
    .await?;
    if !plan.counted {
        return Ok(());
    }
    let failures: Vec<i64> = plan.groups.iter().map(|g| g.failures).collect();
    tx.execute(
        "INSERT INTO cluster_days (suite_id, cluster_id, day, failures) SELECT $1, id, $2, n FROM unnest($3::text[], $4::bigint[]) AS x(id, n)
         ON CONFLICT (suite_id, cluster_id, day) DO UPDATE SET failures = cluster_days.failures + EXCLUDED.failures",
        &[&suite_id, &day, &ids, &failures],
    )
    .await?;
    let (mut m_id, mut m_test, mut m_n) = (Vec::new(), Vec::new(), Vec::new());
    for g in &plan.groups {
        for &(t, n) in &g.tests {
            m_id.push(g.id.as_str());
            m_test.push(test_ids[t]);
            m_n.push(n);
        }
    }
    tx.execute(
        "INSERT INTO cluster_tests (suite_id, cluster_id, day, test_id, failures, last_failed_at)
         SELECT $1, id, $2, t, n, $3 FROM unnest($4::text[], $5::bigint[], $6::bigint[]) AS x(id, t, n)
         ON CONFLICT (suite_id, cluster_id, day, test_id) DO UPDATE SET failures = cluster_tests.failures + EXCLUDED.failures,
           last_failed_at = greatest(cluster_tests.last_failed_at, EXCLUDED.last_failed_at)",
        &[&suite_id, &day, &now, &m_id, &m_test, &m_n],
    )
    .await?;
    tx.execute(
        "INSERT INTO cluster_runs (suite_id, cluster_id, run_id, day) SELECT $1, id, $2, $3 FROM unnest($4::text[]) AS x(id) ON CONFLICT DO NOTHING",
        &[&suite_id, &run_id, &day, &ids],
    )
    .await?;
    Ok(())
}

const CLUSTER_COLS: &str =
    "c.cluster_id, c.algorithm, c.title, c.first_seen, c.last_seen, c.example_execution_id, e.failure_reason, e.test_id";

fn cluster_row(r: &Row) -> ClusterRow {
    ClusterRow {
        id: r.get(0),
        algorithm: r.get(1),
        title: r.get(2),
        first_seen_ms: r.get(3),
        last_seen_ms: r.get(4),
        example_execution_id: r.get(5),
        example_reason: r.get(6),
        example_test_id: r.get::<_, Option<i64>>(7).unwrap_or(0),
        impact: BTreeMap::new(),
    }
}

async fn with_impact(
    c: &impl GenericClient,
    suite_id: i64,
    mut row: ClusterRow,
    today: i64,
    window_days: i64,
) -> Result<ClusterRow, StoreError> {
    for days in IMPACT_DAYS.iter().copied().chain([window_days]) {
        let first = today - days + 1;
        let r = c
            .query_one(
                "SELECT (SELECT coalesce(sum(failures), 0)::bigint FROM cluster_days WHERE suite_id = $1 AND cluster_id = $2 AND day >= $3),
                        (SELECT count(DISTINCT test_id) FROM cluster_tests WHERE suite_id = $1 AND cluster_id = $2 AND day >= $3),
                        (SELECT count(*) FROM cluster_runs WHERE suite_id = $1 AND cluster_id = $2 AND day >= $3)",
                &[&suite_id, &row.id, &first],
            )
            .await?;
        row.impact.insert(days, Impact { failures: r.get(0), tests: r.get(1), runs: r.get(2) });
    }
    Ok(row)
}

#[async_trait]
impl ClustersStore for PgStore {
    async fn clusters(
        &self,
        suite_id: i64,
        today: i64,
        window_days: i64,
        limit: i64,
        only: Option<&[i64]>,
    ) -> Result<Vec<ClusterRow>, StoreError> {
        let c = self.client().await?;
        let sql = dollars(&clusters_sql(CLUSTER_COLS, only.is_some().then_some("test_id = ANY(?4)"), "?4::bigint[]"));
        let only: Option<Vec<i64>> = only.map(<[i64]>::to_vec);
        let rows = c.query(&sql, &[&suite_id, &(today - window_days + 1), &limit, &only]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(with_impact(&**c, suite_id, cluster_row(r), today, window_days).await?);
        }
        Ok(out)
    }

    async fn cluster(&self, suite_id: i64, id: &str, today: i64, window_days: i64) -> Result<Option<ClusterRow>, StoreError> {
        let c = self.client().await?;
        let sql = format!(
            "SELECT {CLUSTER_COLS} FROM clusters c LEFT JOIN executions e ON e.id = c.example_execution_id WHERE c.suite_id = $1 AND c.cluster_id = $2"
        );
        match c.query_opt(&sql, &[&suite_id, &id]).await? {
            None => Ok(None),
            Some(r) => Ok(Some(with_impact(&**c, suite_id, cluster_row(&r), today, window_days).await?)),
        }
    }

    async fn cluster_days(&self, suite_id: i64, id: &str, first_day: i64, end_day: i64) -> Result<Vec<ClusterDay>, StoreError> {
        let c = self.client().await?;
        let mut days: BTreeMap<i64, ClusterDay> =
            (first_day..end_day).map(|d| (d, ClusterDay { day: d, ..ClusterDay::default() })).collect();
        for (sql, set) in DAY_COUNTS {
            for r in c.query(&dollars(sql), &[&suite_id, &id, &first_day, &end_day]).await? {
                if let Some(d) = days.get_mut(&r.get::<_, i64>(0)) {
                    set(d, r.get(1));
                }
            }
        }
        Ok(days.into_values().collect())
    }

    async fn cluster_tests(&self, suite_id: i64, id: &str, first_day: i64, limit: i64) -> Result<Vec<ClusterTest>, StoreError> {
        let sql = format!(
            "SELECT {TEST_COLS}, m.n, m.last FROM (SELECT test_id, sum(failures)::bigint n, max(last_failed_at) last FROM cluster_tests
                                                 WHERE suite_id = $1 AND cluster_id = $2 AND day >= $3 GROUP BY test_id) m
             JOIN tests t ON t.id = m.test_id ORDER BY m.n DESC, t.id LIMIT $4"
        );
        let rows = self.client().await?.query(&sql, &[&suite_id, &id, &first_day, &limit]).await?;
        Ok(rows.iter().map(|r| ClusterTest { test: test_row(r), failures: r.get(8), last_failed_ms: r.get(9) }).collect())
    }

    async fn cluster_failures(&self, suite_id: i64, id: &str, limit: i64) -> Result<Vec<ClusterFailure>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT e.id, e.test_id, e.run_id, r.branch, r.commit_sha, e.created_at, e.failure_reason, r.url
                 FROM executions e JOIN runs r ON r.id = e.run_id
                 WHERE e.cluster_id = $2 AND r.suite_id = $1 ORDER BY e.id DESC LIMIT $3",
                &[&suite_id, &id, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ClusterFailure {
                execution_id: r.get(0),
                test_id: r.get(1),
                run_id: r.get(2),
                branch: r.get(3),
                commit: r.get(4),
                at_ms: r.get(5),
                reason: r.get(6),
                run_url: r.get(7),
            })
            .collect())
    }

    async fn run_clusters(&self, run_id: i64) -> Result<Vec<(String, String, i64)>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT e.cluster_id, c.title, count(*) FROM executions e JOIN runs r ON r.id = e.run_id
                   JOIN clusters c ON c.suite_id = r.suite_id AND c.cluster_id = e.cluster_id
                 WHERE e.run_id = $1 AND e.outcome = 1 AND e.cluster_id IS NOT NULL GROUP BY e.cluster_id, c.title
                 ORDER BY count(*) DESC, e.cluster_id",
                &[&run_id],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    async fn run_test_clusters(&self, run_id: i64) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = self.client().await?.query(&dollars(RUN_TEST_CLUSTERS), &[&run_id]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn rules(&self, suite_id: i64) -> Result<Vec<StoredRule>, StoreError> {
        Ok(rules(&**self.client().await?, suite_id).await?)
    }

    async fn add_rule(&self, suite_id: i64, rule: &StoredRule) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Serialises rule changes of one suite, so the cap holds under concurrency.
        tx.execute("SELECT id FROM suites WHERE id = $1 FOR UPDATE", &[&suite_id]).await?;
        let n: i64 = tx.query_one("SELECT count(*) FROM cluster_rules WHERE suite_id = $1", &[&suite_id]).await?.get(0);
        if n as usize >= MAX_RULES {
            return Err(StoreError::Conflict(format!("a suite has at most {MAX_RULES} rules; remove one first")));
        }
        let (kind, pattern) = rule.kind();
        tx.execute(
            "INSERT INTO cluster_rules (id, suite_id, name, kind, pattern, bug_url, priority, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[&rule.id, &suite_id, &rule.name, &kind, &pattern, &rule.bug_url, &rule.priority, &super::now_ms()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn recluster(&self, suite_id: i64, since_ms: i64) -> Result<usize, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let row = tx.query_one("SELECT flaky_settings FROM suites WHERE id = $1 FOR UPDATE", &[&suite_id]).await?;
        let settings = crate::flaky::settings_of(row.get::<_, Option<String>>(0).as_deref());
        let rules = rules(&*tx, suite_id).await?;
        let since_day = since_ms.div_euclid(86_400_000);
        for table in ["cluster_days", "cluster_tests", "cluster_runs"] {
            tx.execute(&format!("DELETE FROM {table} WHERE suite_id = $1 AND day >= $2"), &[&suite_id, &since_day]).await?;
        }
        let from = since_day * 86_400_000;
        let rows: Vec<StoredExecution> = tx
            .query(
                "SELECT e.id, e.run_id, e.upload_id, e.test_id, e.outcome, e.failure_reason, e.created_at FROM executions e
                 WHERE e.run_id IN (SELECT id FROM runs WHERE suite_id = $1 AND updated_at >= $2) AND e.created_at >= $2
                 ORDER BY e.upload_id, e.id",
                &[&suite_id, &from],
            )
            .await?
            .iter()
            .map(|r| StoredExecution {
                id: r.get(0),
                run_id: r.get(1),
                upload_id: r.get(2),
                test_id: r.get(3),
                outcome: super::reads::outcome(r.get(4)),
                failure_reason: r.get(5),
                created_at: r.get(6),
            })
            .collect();
        let mut clustered = 0;
        for upload in rows.chunk_by(|a, b| a.upload_id == b.upload_id) {
            let (up, test_of, test_ids) = upload_of(upload);
            let plan = plan_clusters(&up, &test_of, &rules, &settings);
            let (mut ids, mut cluster_ids) = (Vec::new(), Vec::new());
            for (e, id) in upload.iter().zip(&plan.ids) {
                if e.outcome == verdict_core::Outcome::Failed {
                    ids.push(e.id);
                    cluster_ids.push(id.clone());
                    clustered += usize::from(id.is_some());
                }
            }
            tx.execute(
                "UPDATE executions e SET cluster_id = x.c FROM unnest($1::bigint[], $2::text[]) AS x(i, c) WHERE e.id = x.i",
                &[&ids, &cluster_ids],
            )
            .await?;
            if !plan.groups.is_empty() {
                write(&*tx, suite_id, upload[0].run_id, upload[0].created_at, &plan, &test_ids).await?;
            }
        }
        tx.commit().await?;
        Ok(clustered)
    }

    async fn remove_rule(&self, suite_id: i64, id: &str) -> Result<(), StoreError> {
        match self.client().await?.execute("DELETE FROM cluster_rules WHERE suite_id = $1 AND id = $2", &[&suite_id, &id]).await? {
            0 => Err(StoreError::NotFound(format!("no rule {id:?} in this suite"))),
            _ => Ok(()),
        }
    }
}
