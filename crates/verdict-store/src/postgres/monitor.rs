//! pytest-monitor's records in PostgreSQL.

use super::{PgStore, now_ms, writes};
use crate::error::StoreError;
use crate::monitor::*;
use crate::plan::WritePlan;
use async_trait::async_trait;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, IsolationLevel, Row};
use verdict_core::monitor::{MonitorContext, MonitorMetric, MonitorSession};

#[async_trait]
impl MonitorStore for PgStore {
    async fn add_context(&self, suite_id: i64, x: MonitorContext) -> Result<Added, StoreError> {
        let c = self.client().await?;
        let inserted = c
            .execute(
                &format!(
                    "INSERT INTO monitor_contexts (suite_id, {CONTEXT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT (suite_id, h) DO NOTHING"
                ),
                &[
                    &suite_id,
                    &x.h,
                    &x.cpu_count,
                    &x.cpu_frequency,
                    &x.cpu_type,
                    &x.cpu_vendor,
                    &x.ram_total,
                    &x.machine_node,
                    &x.machine_type,
                    &x.machine_arch,
                    &x.system_info,
                    &x.python_info,
                ],
            )
            .await?;
        if inserted == 1 {
            return Ok(Added::Created);
        }
        // Another worker created it first (pytest-xdist): fine if it is the same machine.
        let sql = format!("SELECT {CONTEXT_COLS} FROM monitor_contexts WHERE suite_id = $1 AND h = $2");
        let existing = context_row(&c.query_one(&sql, &[&suite_id, &x.h]).await?);
        if existing == x { Ok(Added::AlreadyThere) } else { Err(conflict("context", &x.h)) }
    }

    async fn add_session(&self, suite_id: i64, s: MonitorSession) -> Result<Added, StoreError> {
        let mut pooled = self.client().await?;
        let c: &mut tokio_postgres::Client = &mut pooled;
        let tx = c.transaction().await?;
        let upload = session_run(&s);
        let run = writes::write(&tx, suite_id, &upload, &WritePlan::new(&upload), super::now_ms()).await?;
        let inserted = tx
            .execute(
                "INSERT INTO monitor_sessions (suite_id, session_h, run_id, run_date, scm_ref, description) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (suite_id, session_h) DO NOTHING",
                &[&suite_id, &s.session_h, &run.run_id, &s.run_date, &s.scm_ref, &description_json(&s)],
            )
            .await?;
        if inserted == 1 {
            tx.commit().await?;
            return Ok(Added::Created);
        }
        // Already there: leave the run as it was, and compare.
        tx.rollback().await?;
        let sql = format!("SELECT {SESSION_COLS} FROM monitor_sessions WHERE suite_id = $1 AND session_h = $2");
        let existing = session_row(&c.query_one(&sql, &[&suite_id, &s.session_h]).await?);
        if existing == s { Ok(Added::AlreadyThere) } else { Err(conflict("session", &s.session_h)) }
    }

    async fn add_metric(&self, suite_id: i64, m: MonitorMetric) -> Result<(), StoreError> {
        let c = self.client().await?;
        let run_id: i64 = c
            .query_opt("SELECT run_id FROM monitor_sessions WHERE suite_id = $1 AND session_h = $2", &[&suite_id, &m.session_h])
            .await?
            .ok_or_else(|| unknown("session_h", "session", &m.session_h))?
            .get(0);
        c.query_opt("SELECT 1 FROM monitor_contexts WHERE suite_id = $1 AND h = $2", &[&suite_id, &m.context_h])
            .await?
            .ok_or_else(|| unknown("context_h", "context", &m.context_h))?;
        let now = now_ms();
        let test_id: Option<i64> = match m.test_key() {
            None => None,
            Some((scope, name)) => {
                let identity = super::test_identity(scope, name);
                let inserted = c
                    .query_opt(
                        "WITH new AS (
                           INSERT INTO tests (suite_id, identity, scope, name, file_name, first_seen, last_seen) VALUES ($1, $6, $2, $3, $4, $5, $5)
                           ON CONFLICT (suite_id, identity) DO NOTHING RETURNING id)
                         SELECT id FROM new UNION ALL SELECT id FROM tests WHERE suite_id = $1 AND identity = $6 LIMIT 1",
                        &[&suite_id, &scope, &name, &m.item_fs_loc, &now, &identity],
                    )
                    .await?;
                match inserted {
                    Some(row) => Some(row.get(0)),
                    // A concurrent insert of the same test committed while this
                    // statement waited for it, after the statement's snapshot:
                    // the next statement sees it.
                    None => Some(
                        c.query_one("SELECT id FROM tests WHERE suite_id = $1 AND identity = $2", &[&suite_id, &identity]).await?.get(0),
                    ),
                }
            }
        };
        c.execute(
            &format!(
                "INSERT INTO monitor_metrics (suite_id, run_id, test_id, created_at, {METRIC_COLS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
            ),
            &[
                &suite_id,
                &run_id,
                &test_id,
                &now,
                &m.session_h,
                &m.context_h,
                &m.item_start_time,
                &m.item_path,
                &m.item,
                &m.item_variant,
                &m.item_fs_loc,
                &m.kind,
                &m.component,
                &m.total_time,
                &m.user_time,
                &m.kernel_time,
                &m.cpu_usage,
                &m.mem_usage,
            ],
        )
        .await?;
        Ok(())
    }

    async fn count(&self, suite_id: i64, list: &MonitorList) -> Result<i64, StoreError> {
        count(&**self.client().await?, suite_id, list).await
    }

    async fn rows(&self, suite_id: i64, list: &MonitorList, offset: i64, limit: i64) -> Result<MonitorRows, StoreError> {
        rows(&**self.client().await?, suite_id, list, offset, limit).await
    }

    async fn page(&self, suite_id: i64, list: &MonitorList, window: Window) -> Result<(i64, MonitorRows), StoreError> {
        let mut pooled = self.client().await?;
        let c: &mut tokio_postgres::Client = &mut pooled;
        // One snapshot: the count and the rows see the same samples.
        let tx = c.build_transaction().isolation_level(IsolationLevel::RepeatableRead).read_only(true).start().await?;
        let total = count(&tx, suite_id, list).await?;
        let page = match window(total) {
            Some((offset, limit)) => match from_end(list, total, offset, limit) {
                Some((offset, limit)) => reversed(rows_from(&tx, suite_id, list, offset, limit, Reading::FromEnd).await?),
                None => rows(&tx, suite_id, list, offset, limit).await?,
            },
            None => MonitorRows::none_of(list),
        };
        tx.commit().await?;
        Ok((total, page))
    }
}

async fn count(c: &impl GenericClient, suite_id: i64, list: &MonitorList) -> Result<i64, StoreError> {
    let (sql, texts) = Dialect::Postgres.count_sql(list);
    Ok(c.query_one(&sql, &args(&suite_id, &texts, None)).await?.get(0))
}

async fn rows(c: &impl GenericClient, suite_id: i64, list: &MonitorList, offset: i64, limit: i64) -> Result<MonitorRows, StoreError> {
    rows_from(c, suite_id, list, offset, limit, Reading::InOrder).await
}

async fn rows_from(
    c: &impl GenericClient,
    suite_id: i64,
    list: &MonitorList,
    offset: i64,
    limit: i64,
    reading: Reading,
) -> Result<MonitorRows, StoreError> {
    let (sql, texts) = Dialect::Postgres.rows_sql(list, reading);
    let rows = c.query(&sql, &args(&suite_id, &texts, Some((&offset, &limit)))).await?;
    Ok(match list {
        MonitorList::Contexts { .. } => MonitorRows::Contexts(rows.iter().map(context_row).collect()),
        MonitorList::Sessions(_) | MonitorList::SessionsWithScm => MonitorRows::Sessions(rows.iter().map(session_row).collect()),
        MonitorList::Metrics(_) | MonitorList::Ranked { .. } => MonitorRows::Metrics(rows.iter().map(metric_row).collect()),
        MonitorList::Components { .. } => MonitorRows::Components(rows.iter().map(|r| r.get(0)).collect()),
        MonitorList::Pipelines { .. } | MonitorList::Builds { .. } | MonitorList::BuildSessions { .. } => {
            MonitorRows::Values(rows.iter().map(|r| r.get(0)).collect())
        }
    })
}

fn args<'a>(suite_id: &'a i64, texts: &'a [String], page: Option<(&'a i64, &'a i64)>) -> Vec<&'a (dyn ToSql + Sync)> {
    let mut v: Vec<&(dyn ToSql + Sync)> = vec![suite_id];
    v.extend(texts.iter().map(|t| t as &(dyn ToSql + Sync)));
    if let Some((offset, limit)) = page {
        v.extend([offset as &(dyn ToSql + Sync), limit]);
    }
    v
}

fn context_row(r: &Row) -> MonitorContext {
    MonitorContext {
        h: r.get(0),
        cpu_count: r.get(1),
        cpu_frequency: r.get(2),
        cpu_type: r.get(3),
        cpu_vendor: r.get(4),
        ram_total: r.get(5),
        machine_node: r.get(6),
        machine_type: r.get(7),
        machine_arch: r.get(8),
        system_info: r.get(9),
        python_info: r.get(10),
    }
}

fn session_row(r: &Row) -> MonitorSession {
    MonitorSession { session_h: r.get(0), run_date: r.get(1), scm_ref: r.get(2), description: parse_description(r.get(3)) }
}

fn metric_row(r: &Row) -> MonitorMetric {
    MonitorMetric {
        session_h: r.get(0),
        context_h: r.get(1),
        item_start_time: r.get(2),
        item_path: r.get(3),
        item: r.get(4),
        item_variant: r.get(5),
        item_fs_loc: r.get(6),
        kind: r.get(7),
        component: r.get(8),
        total_time: r.get(9),
        user_time: r.get(10),
        kernel_time: r.get(11),
        cpu_usage: r.get(12),
        mem_usage: r.get(13),
    }
}
