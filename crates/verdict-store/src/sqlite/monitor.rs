//! pytest-monitor's records in SQLite.

use super::{SqliteStore, now_ms, writes};
use crate::error::StoreError;
use crate::monitor::*;
use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};
use std::collections::HashMap;
use std::sync::Mutex;
use verdict_core::monitor::{MonitorContext, MonitorMetric, MonitorSession};

#[async_trait]
impl MonitorStore for SqliteStore {
    async fn add_context(&self, suite_id: i64, context: MonitorContext) -> Result<Added, StoreError> {
        self.writer.write(move |c| add_context(c, suite_id, &context)).await
    }

    async fn add_session(&self, suite_id: i64, session: MonitorSession) -> Result<Added, StoreError> {
        self.writer.write(move |c| add_session(c, suite_id, &session)).await
    }

    async fn add_metric(&self, suite_id: i64, metric: MonitorMetric) -> Result<(), StoreError> {
        let inbox = self.inbox.clone();
        self.writer.write_small(move |c| add_metric(c, suite_id, &metric).map(|()| inbox.added())).await
    }

    async fn count(&self, suite_id: i64, list: &MonitorList) -> Result<i64, StoreError> {
        self.settle().await?;
        let (list, counts) = (list.clone(), self.counts.clone());
        self.read_here(move |c| count(c, &counts, suite_id, &list)).await
    }

    async fn rows(&self, suite_id: i64, list: &MonitorList, offset: i64, limit: i64) -> Result<MonitorRows, StoreError> {
        self.settle().await?;
        let (list, counts) = (list.clone(), self.counts.clone());
        self.read_here(move |c| {
            let reading = match &list {
                MonitorList::Ranked { filter, .. } if *filter != MetricFilter::All => {
                    // Counts carried forward make this choice cheap after the first time.
                    let kept = count(c, &counts, suite_id, &MonitorList::Metrics(filter.clone()))?;
                    let all = count(c, &counts, suite_id, &MonitorList::Metrics(MetricFilter::All))?;
                    if kept * 20 < all { Reading::FilterFirst } else { Reading::InOrder }
                }
                _ => Reading::InOrder,
            };
            rows(c, suite_id, &list, offset, limit, reading)
        })
        .await
    }

    async fn page(&self, suite_id: i64, list: &MonitorList, window: Window) -> Result<(i64, MonitorRows), StoreError> {
        self.settle().await?;
        let (list, counts) = (list.clone(), self.counts.clone());
        self.read_here(move |c| {
            // One read transaction: the count and the rows see the same samples.
            c.execute_batch("BEGIN")?;
            let read = (|| {
                let total = count(c, &counts, suite_id, &list)?;
                let page = match window(total) {
                    Some((offset, limit)) => match from_end(&list, total, offset, limit) {
                        Some((offset, limit)) => reversed(rows(c, suite_id, &list, offset, limit, Reading::FromEnd)?),
                        None => rows(c, suite_id, &list, offset, limit, Reading::InOrder)?,
                    },
                    None => MonitorRows::none_of(&list),
                };
                Ok((total, page))
            })();
            // The connection goes back to the pool: it must not keep a transaction open.
            if let Err(e) = c.execute_batch("COMMIT") {
                let _ = c.execute_batch("ROLLBACK");
                return Err(e.into());
            }
            read
        })
        .await
    }
}

impl SqliteStore {
    /// Every sample acknowledged so far is in `monitor_metrics` when this returns.
    pub(crate) async fn settle(&self) -> Result<(), StoreError> {
        if self.inbox.is_empty() {
            return Ok(());
        }
        let inbox = self.inbox.clone();
        let moved = self.writer.write(move |c| inbox.move_samples(c, None)).await;
        if moved.is_err() {
            self.inbox.unsettled();
        }
        moved
    }
}

/// Counts of large sample listings, carried forward. Samples are only ever
/// appended, and SQLite's one writer gives them ids in commit order, so a
/// listing's count up to id N stays right, and only the samples after N need
/// counting (counting 5M index entries takes over 100 ms). Retention deletes
/// the oldest samples (lowest ids first), so each count is kept with the
/// lowest id it saw, and a count whose lowest id is gone is redone.
#[derive(Default)]
pub(crate) struct Counts(Mutex<HashMap<String, (i64, i64, i64)>>);

impl Counts {
    /// Smaller counts are cheap to redo, and not keeping them bounds the cache.
    const KEEP_FROM: i64 = 1_000;
    const MOST: usize = 4096;
}

fn count(c: &Connection, counts: &Counts, suite_id: i64, list: &MonitorList) -> Result<i64, StoreError> {
    let (sql, texts) = Dialect::Sqlite.count_sql(list);
    let appended_only = matches!(list, MonitorList::Metrics(f) if !matches!(f, MetricFilter::Test(_)));
    if !appended_only {
        return Ok(c.prepare_cached(&sql)?.query_row(params_from_iter(values(suite_id, texts, None)), |r| r.get(0))?);
    }
    let key = format!("{suite_id}\0{sql}\0{}", texts.join("\0"));
    let (oldest, newest): (i64, i64) = c
        // Two subqueries: SQLite answers a lone min() or max() from the key's
        // ends, but both in one SELECT scan the whole table.
        .prepare_cached("SELECT coalesce((SELECT min(id) FROM monitor_metrics), 0), coalesce((SELECT max(id) FROM monitor_metrics), 0)")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let cached = counts.0.lock().expect("count cache").get(&key).copied();
    let (since, before) =
        cached.filter(|(since, _, low)| *since <= newest && *low == oldest).map_or((0, 0), |(since, before, _)| (since, before));
    let n = texts.len() + 2;
    // `id <= newest`: a sample committed after `newest` was read must not be counted as before it.
    let sql = format!("{sql} AND id > ?{n} AND id <= ?{}", n + 1);
    let after: i64 = c.prepare_cached(&sql)?.query_row(params_from_iter(values(suite_id, texts, Some((since, newest)))), |r| r.get(0))?;
    let total = before + after;
    if total >= Counts::KEEP_FROM {
        let mut kept = counts.0.lock().expect("count cache");
        if kept.len() >= Counts::MOST {
            kept.clear();
        }
        kept.insert(key, (newest, total, oldest));
    }
    Ok(total)
}

fn rows(c: &Connection, suite_id: i64, list: &MonitorList, offset: i64, limit: i64, reading: Reading) -> Result<MonitorRows, StoreError> {
    let (sql, texts) = Dialect::Sqlite.rows_sql(list, reading);
    let mut st = c.prepare_cached(&sql)?;
    let args = params_from_iter(values(suite_id, texts, Some((offset, limit))));
    Ok(match list {
        MonitorList::Contexts { .. } => MonitorRows::Contexts(st.query_map(args, context_row)?.collect::<Result<_, _>>()?),
        MonitorList::Sessions(_) | MonitorList::SessionsWithScm => {
            MonitorRows::Sessions(st.query_map(args, session_row)?.collect::<Result<_, _>>()?)
        }
        MonitorList::Metrics(_) | MonitorList::Ranked { .. } => {
            MonitorRows::Metrics(st.query_map(args, metric_row)?.collect::<Result<_, _>>()?)
        }
        MonitorList::Components { .. } => MonitorRows::Components(st.query_map(args, |r| r.get(0))?.collect::<Result<_, _>>()?),
        MonitorList::Pipelines { .. } | MonitorList::Builds { .. } | MonitorList::BuildSessions { .. } => {
            MonitorRows::Values(st.query_map(args, |r| Ok(text_of(r.get_ref(0)?)))?.collect::<Result<_, _>>()?)
        }
    })
}

fn values(suite_id: i64, texts: Vec<String>, page: Option<(i64, i64)>) -> Vec<Value> {
    let mut v = vec![Value::Integer(suite_id)];
    v.extend(texts.into_iter().map(Value::Text));
    if let Some((offset, limit)) = page {
        v.extend([Value::Integer(offset), Value::Integer(limit)]);
    }
    v
}

fn context_row(r: &Row<'_>) -> rusqlite::Result<MonitorContext> {
    Ok(MonitorContext {
        h: r.get(0)?,
        cpu_count: r.get(1)?,
        cpu_frequency: r.get(2)?,
        cpu_type: r.get(3)?,
        cpu_vendor: r.get(4)?,
        ram_total: r.get(5)?,
        machine_node: r.get(6)?,
        machine_type: r.get(7)?,
        machine_arch: r.get(8)?,
        system_info: r.get(9)?,
        python_info: r.get(10)?,
    })
}

fn session_row(r: &Row<'_>) -> rusqlite::Result<MonitorSession> {
    Ok(MonitorSession {
        session_h: r.get(0)?,
        run_date: r.get(1)?,
        scm_ref: r.get(2)?,
        description: parse_description(&r.get::<_, String>(3)?),
    })
}

fn metric_row(r: &Row<'_>) -> rusqlite::Result<MonitorMetric> {
    Ok(MonitorMetric {
        session_h: r.get(0)?,
        context_h: r.get(1)?,
        item_start_time: r.get(2)?,
        item_path: r.get(3)?,
        item: r.get(4)?,
        item_variant: r.get(5)?,
        item_fs_loc: r.get(6)?,
        kind: r.get(7)?,
        component: r.get(8)?,
        total_time: r.get(9)?,
        user_time: r.get(10)?,
        kernel_time: r.get(11)?,
        cpu_usage: r.get(12)?,
        mem_usage: r.get(13)?,
    })
}

fn add_context(c: &Connection, suite_id: i64, x: &MonitorContext) -> Result<Added, StoreError> {
    let sql = format!("SELECT {CONTEXT_COLS} FROM monitor_contexts WHERE suite_id = ?1 AND h = ?2");
    if let Some(existing) = c.prepare_cached(&sql)?.query_row(params![suite_id, x.h], context_row).optional()? {
        return if existing == *x { Ok(Added::AlreadyThere) } else { Err(conflict("context", &x.h)) };
    }
    c.prepare_cached(&format!(
        "INSERT INTO monitor_contexts (suite_id, {CONTEXT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?
    .execute(params![
        suite_id,
        x.h,
        x.cpu_count,
        x.cpu_frequency,
        x.cpu_type,
        x.cpu_vendor,
        x.ram_total,
        x.machine_node,
        x.machine_type,
        x.machine_arch,
        x.system_info,
        x.python_info
    ])?;
    Ok(Added::Created)
}

fn add_session(c: &Connection, suite_id: i64, s: &MonitorSession) -> Result<Added, StoreError> {
    let sql = format!("SELECT {SESSION_COLS} FROM monitor_sessions WHERE suite_id = ?1 AND session_h = ?2");
    if let Some(existing) = c.prepare_cached(&sql)?.query_row(params![suite_id, s.session_h], session_row).optional()? {
        return if existing == *s { Ok(Added::AlreadyThere) } else { Err(conflict("session", &s.session_h)) };
    }
    let run = writes::upload(c, suite_id, &session_run(s), super::now_ms())?;
    c.prepare_cached(
        "INSERT INTO monitor_sessions (suite_id, session_h, run_id, run_date, scm_ref, description) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![suite_id, s.session_h, run.run_id, s.run_date, s.scm_ref, description_json(s)])?;
    Ok(Added::Created)
}

fn add_metric(c: &Connection, suite_id: i64, m: &MonitorMetric) -> Result<(), StoreError> {
    let run_id: i64 = c
        .prepare_cached("SELECT run_id FROM monitor_sessions WHERE suite_id = ?1 AND session_h = ?2")?
        .query_row(params![suite_id, m.session_h], |r| r.get(0))
        .optional()?
        .ok_or_else(|| unknown("session_h", "session", &m.session_h))?;
    c.prepare_cached("SELECT 1 FROM monitor_contexts WHERE suite_id = ?1 AND h = ?2")?
        .query_row(params![suite_id, m.context_h], |_| Ok(()))
        .optional()?
        .ok_or_else(|| unknown("context_h", "context", &m.context_h))?;
    let now = now_ms();
    let test_id = match m.test_key() {
        None => None,
        Some((scope, name)) => {
            let found = c
                .prepare_cached("SELECT id FROM tests WHERE suite_id = ?1 AND scope = ?2 AND name = ?3")?
                .query_row(params![suite_id, scope, name], |r| r.get::<_, i64>(0))
                .optional()?;
            Some(match found {
                Some(id) => id,
                None => c
                    .prepare_cached(
                        "INSERT INTO tests (suite_id, scope, name, file_name, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?5) RETURNING id",
                    )?
                    .query_row(params![suite_id, scope, name, m.item_fs_loc, now], |r| r.get(0))?,
            })
        }
    };
    c.prepare_cached(&format!(
        "INSERT INTO monitor_inbox (suite_id, run_id, test_id, created_at, {METRIC_COLS})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
    ))?
    .execute(params![
        suite_id,
        run_id,
        test_id,
        now,
        m.session_h,
        m.context_h,
        m.item_start_time,
        m.item_path,
        m.item,
        m.item_variant,
        m.item_fs_loc,
        m.kind,
        m.component,
        m.total_time,
        m.user_time,
        m.kernel_time,
        m.cpu_usage,
        m.mem_usage
    ])?;
    Ok(())
}

/// A description value as text (pytest-monitor sends strings; a number is shown as its text).
fn text_of(v: rusqlite::types::ValueRef<'_>) -> Option<String> {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(f) => Some(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Some(String::from_utf8_lossy(t).into_owned()),
    }
}
