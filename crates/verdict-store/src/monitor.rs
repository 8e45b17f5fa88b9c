//! pytest-monitor's data in the store: machines (contexts), sessions (each
//! one a run of the suite) and resource samples (each one linked to its test
//! and its session's run). The queries are those of monitor-server-api's
//! `/api/v1`, written once here for both SQL dialects.

use crate::error::StoreError;
use async_trait::async_trait;
use verdict_core::Upload;
use verdict_core::monitor::{MonitorContext, MonitorMetric, MonitorSession};

/// What a create did: stored it, or found the identical record already there
/// (a differing record with the same hash is a `StoreError::Conflict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    Created,
    AlreadyThere,
}

/// Which metrics a listing or count covers. `Like` variants use SQL LIKE
/// (ASCII case-insensitive; `%` and `_` in the value are wildcards), as the
/// original server does.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricFilter {
    All,
    Context(String),
    Session(String),
    Item(String),
    ItemContains(String),
    Variant(String),
    VariantContains(String),
    Kind(String),
    ScmPrefix(String),
    ComponentLike(String),
    ComponentItem(String, String),
    ComponentVariant(String, String),
    /// Exactly this component (case-sensitive).
    Component(String),
    /// The samples of sessions whose `pipeline_branch` is this, and whose
    /// `pipeline_build_no` is `build` when given.
    Pipeline {
        pipeline: String,
        build: Option<String>,
    },
    /// The samples of one Verdict test, newest first.
    Test(i64),
}

/// A resource a sample measures, by the name monitor-server-api's
/// `/resources/<resource>/...` routes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Memory,
    Cpu,
    KernelTime,
    UserTime,
    TotalTime,
}

impl Resource {
    pub const NAMES: [&'static str; 5] = ["memory", "cpu", "kernel_time", "user_time", "total_time"];

    pub fn from_name(name: &str) -> Option<Resource> {
        Some(match name {
            "memory" => Resource::Memory,
            "cpu" => Resource::Cpu,
            "kernel_time" => Resource::KernelTime,
            "user_time" => Resource::UserTime,
            "total_time" => Resource::TotalTime,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            Resource::Memory => "mem_usage",
            Resource::Cpu => "cpu_usage",
            Resource::KernelTime => "kernel_time",
            Resource::UserTime => "user_time",
            Resource::TotalTime => "total_time",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum SessionFilter {
    All,
    HashPrefix(String),
    ScmPrefix(String),
    /// `with_flags`: per (key, value), the description's key equals the value,
    /// or, for an empty value, is present and not empty; ORed when `match_any`, else ANDed.
    Flagged {
        hash_prefix: Option<String>,
        flags: Vec<(String, String)>,
        match_any: bool,
    },
}

/// A listing: what, and which rows of it (offset, limit) when paged.
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorList {
    Contexts {
        hash_prefix: Option<String>,
    },
    Sessions(SessionFilter),
    /// Sessions whose scm_ref is set (the original `/sessions/count`).
    SessionsWithScm,
    Metrics(MetricFilter),
    /// The samples using the most (`most`) or the least of a resource, ties
    /// in id order (as the original's SQLite sorts them).
    Ranked {
        filter: MetricFilter,
        resource: Resource,
        most: bool,
    },
    /// Distinct components in order of first appearance.
    Components {
        prefix: Option<String>,
    },
    /// Distinct CI pipelines (the sessions' `pipeline_branch`): all non-empty
    /// ones, or those of sessions with samples of `component` (null included).
    Pipelines {
        component: Option<String>,
    },
    /// Distinct non-empty build numbers of a pipeline (within a component).
    Builds {
        component: Option<String>,
        pipeline: String,
    },
    /// Distinct sessions of a pipeline's build (within a component).
    BuildSessions {
        component: Option<String>,
        pipeline: String,
        build: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum MonitorRows {
    Contexts(Vec<MonitorContext>),
    Sessions(Vec<MonitorSession>),
    Metrics(Vec<MonitorMetric>),
    Components(Vec<String>),
    /// Pipelines, builds or session hashes (a pipeline can be null).
    Values(Vec<Option<String>>),
}

/// Which rows of a listing of `total` rows to read, as (offset, limit); none
/// when the request asks for a page that does not exist.
pub type Window = Box<dyn FnOnce(i64) -> Option<(i64, i64)> + Send>;

/// Rows `offset..offset + limit` of `total` as (offset, limit) counted from
/// the end, when the listing is in id order and the rows are nearer its end:
/// OFFSET walks every row it skips, so the last page of 5M samples would walk
/// them all. The caller reverses the rows it reads.
pub(crate) fn from_end(list: &MonitorList, total: i64, offset: i64, limit: i64) -> Option<(i64, i64)> {
    let id_ordered = matches!(list, MonitorList::Metrics(f) if !matches!(f, MetricFilter::Test(_)));
    (id_ordered && offset * 2 > total).then(|| ((total - offset - limit).max(0), limit.min(total - offset).max(0)))
}

impl MonitorRows {
    /// No rows, of the kind `list` lists.
    pub fn none_of(list: &MonitorList) -> MonitorRows {
        match list {
            MonitorList::Contexts { .. } => MonitorRows::Contexts(vec![]),
            MonitorList::Sessions(_) | MonitorList::SessionsWithScm => MonitorRows::Sessions(vec![]),
            MonitorList::Metrics(_) | MonitorList::Ranked { .. } => MonitorRows::Metrics(vec![]),
            MonitorList::Components { .. } => MonitorRows::Components(vec![]),
            MonitorList::Pipelines { .. } | MonitorList::Builds { .. } | MonitorList::BuildSessions { .. } => MonitorRows::Values(vec![]),
        }
    }
}

/// How a listing's rows are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    InOrder,
    /// An id-ordered listing read backwards (see `from_end`); the caller reverses the rows.
    FromEnd,
    /// A ranked listing read through its filter's index and sorted, rather than
    /// by walking the resource's index until enough rows pass the filter: the
    /// better plan when the filter keeps few of the suite's samples (SQLite,
    /// which has no statistics, cannot tell).
    FilterFirst,
}

/// Rows read from the end, put back in order.
pub(crate) fn reversed(rows: MonitorRows) -> MonitorRows {
    match rows {
        MonitorRows::Metrics(mut m) => {
            m.reverse();
            MonitorRows::Metrics(m)
        }
        other => other,
    }
}

#[async_trait]
pub trait MonitorStore: Send + Sync {
    async fn add_context(&self, suite_id: i64, context: MonitorContext) -> Result<Added, StoreError>;
    /// Also creates the session's run (key `pytest-monitor-<hash>`, commit = scm_ref).
    async fn add_session(&self, suite_id: i64, session: MonitorSession) -> Result<Added, StoreError>;
    /// `NotFound` names the field when the session or context is unknown.
    async fn add_metric(&self, suite_id: i64, metric: MonitorMetric) -> Result<(), StoreError>;
    async fn count(&self, suite_id: i64, list: &MonitorList) -> Result<i64, StoreError>;
    async fn rows(&self, suite_id: i64, list: &MonitorList, offset: i64, limit: i64) -> Result<MonitorRows, StoreError>;
    /// A page: the listing's count and the rows `window` picks by it, read in
    /// one snapshot (a sample that arrives in between changes neither).
    async fn page(&self, suite_id: i64, list: &MonitorList, window: Window) -> Result<(i64, MonitorRows), StoreError>;
}

/// The two SQL dialects the queries are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

pub(crate) const CONTEXT_COLS: &str =
    "h, cpu_count, cpu_frequency, cpu_type, cpu_vendor, ram_total, machine_node, machine_type, machine_arch, system_info, python_info";
pub(crate) const SESSION_COLS: &str = "session_h, run_date, scm_ref, description";
pub(crate) const METRIC_COLS: &str = "session_h, context_h, item_start_time, item_path, item, item_variant, item_fs_loc, kind, component, \
     total_time, user_time, kernel_time, cpu_usage, mem_usage";

/// A list of distinct values, read in order of first appearance.
struct Values {
    /// The value of a row (a session column).
    expr: String,
    from_where: String,
    /// The column whose order is the order of first appearance.
    id: &'static str,
    params: Vec<String>,
    /// Each row has its own value: no grouping needed.
    distinct: bool,
}

/// A query of a listing: `FROM ... WHERE ...` with its text parameters
/// (after the suite id, which is always parameter 1).
pub(crate) struct Query {
    pub from_where: String,
    pub order: String,
    pub params: Vec<String>,
}

impl Dialect {
    fn like(self) -> &'static str {
        match self {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }

    /// Parameter `n`, typed (PostgreSQL cannot always infer the type of `$n || '%'`).
    /// On SQLite an expression of the same value rather than a bare parameter:
    /// SQLite 3.54 re-prepares a statement on every use when a bare parameter
    /// is compared with `=` in a query with an ORDER BY (it plans with the bound
    /// value), which made a cached 5-row read 14 µs instead of 3.
    fn typed(self, n: usize, pg_type: &str) -> String {
        match self {
            Dialect::Sqlite if pg_type == "text" => format!("(?{n} || '')"),
            Dialect::Sqlite => format!("(?{n} + 0)"),
            Dialect::Postgres => format!("${n}::{pg_type}"),
        }
    }

    /// `col = value` for a sample field that can be longer than PostgreSQL
    /// indexes (migration 0009): there the index is on its MD5, so the query
    /// compares that first and then the value itself.
    fn long_eq(self, col: &str, value: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{col} = {value}"),
            Dialect::Postgres => format!("md5({col}) = md5({value}) AND {col} = {value}"),
        }
    }

    fn param(self, n: usize) -> String {
        self.typed(n, "text")
    }

    /// The page's offset and limit: parameters `n` and `n + 1`.
    fn window_params(self, n: usize) -> (String, String) {
        (self.typed(n, "bigint"), self.typed(n + 1, "bigint"))
    }

    /// The value of a session description's key (a parameter), as the
    /// original's `json_extract` gives it; NULL when the key is missing.
    fn description_value(self, key_param: &str) -> String {
        match self {
            // The key is bound as a value, not spliced into a JSON path, where a
            // `"` or `\` in it made the path invalid (an error, not a filter).
            Dialect::Sqlite => format!("(SELECT value FROM json_each(description) WHERE key = {key_param})"),
            Dialect::Postgres => format!("(description::jsonb ->> {key_param})"),
        }
    }

    /// The query for `list`; parameter 1 is the suite id.
    pub(crate) fn query(self, list: &MonitorList) -> Query {
        let like = self.like();
        let mut params: Vec<String> = Vec::new();
        let mut p = |v: &str| {
            params.push(v.to_owned());
            self.param(params.len() + 1)
        };
        let s1 = self.typed(1, "bigint");
        let (from_where, order) = match list {
            MonitorList::Contexts { hash_prefix } => {
                let cond = hash_prefix.as_deref().map(|h| format!(" AND h {like} {} || '%'", p(h))).unwrap_or_default();
                (format!("FROM monitor_contexts WHERE suite_id = {s1}{cond}"), "ORDER BY id".into())
            }
            MonitorList::Sessions(f) => {
                let cond = match f {
                    SessionFilter::All => String::new(),
                    SessionFilter::HashPrefix(h) => format!(" AND session_h {like} {} || '%'", p(h)),
                    SessionFilter::ScmPrefix(s) => format!(" AND scm_ref {like} {} || '%'", p(s)),
                    SessionFilter::Flagged { hash_prefix, flags, match_any } => {
                        let prefix = hash_prefix.as_deref().map(|h| format!(" AND session_h {like} {} || '%'", p(h))).unwrap_or_default();
                        let conds: Vec<String> = flags
                            .iter()
                            .map(|(k, v)| {
                                let key = p(k);
                                let value = self.description_value(&key);
                                if v.is_empty() { format!("{value} != ''") } else { format!("{value} = {}", p(v)) }
                            })
                            .collect();
                        let joined = conds.join(if *match_any { " OR " } else { " AND " });
                        if joined.is_empty() { prefix } else { format!("{prefix} AND ({joined})") }
                    }
                };
                (format!("FROM monitor_sessions WHERE suite_id = {s1}{cond}"), "ORDER BY id".into())
            }
            MonitorList::SessionsWithScm => (format!("FROM monitor_sessions WHERE suite_id = {s1} AND scm_ref IS NOT NULL"), String::new()),
            MonitorList::Metrics(f) | MonitorList::Ranked { filter: f, .. } => {
                let cond = match f {
                    MetricFilter::All => String::new(),
                    MetricFilter::Context(h) => format!(" AND context_h = {}", p(h)),
                    MetricFilter::Session(h) => format!(" AND session_h = {}", p(h)),
                    MetricFilter::Item(i) => format!(" AND {}", self.long_eq("item", &p(i))),
                    MetricFilter::ItemContains(i) => format!(" AND item {like} '%' || {} || '%'", p(i)),
                    MetricFilter::Variant(v) => format!(" AND {}", self.long_eq("item_variant", &p(v))),
                    MetricFilter::VariantContains(v) => format!(" AND item_variant {like} '%' || {} || '%'", p(v)),
                    MetricFilter::Kind(k) => format!(" AND kind = {}", p(k)),
                    MetricFilter::ScmPrefix(s) => format!(
                        " AND session_h IN (SELECT session_h FROM monitor_sessions WHERE suite_id = {s1} AND scm_ref {like} {} || '%')",
                        p(s)
                    ),
                    MetricFilter::ComponentLike(c) => format!(" AND component {like} {}", p(c)),
                    MetricFilter::ComponentItem(c, i) => format!(" AND component = {} AND {}", p(c), self.long_eq("item", &p(i))),
                    MetricFilter::ComponentVariant(c, v) => {
                        format!(" AND component = {} AND {}", p(c), self.long_eq("item_variant", &p(v)))
                    }
                    MetricFilter::Component(c) => format!(" AND component = {}", p(c)),
                    MetricFilter::Pipeline { pipeline, build } => {
                        let mut cond = format!("pipeline_branch = {}", p(pipeline));
                        if let Some(b) = build {
                            cond += &format!(" AND pipeline_build_no = {}", p(b));
                        }
                        format!(" AND session_h IN (SELECT session_h FROM monitor_sessions WHERE suite_id = {s1} AND {cond})")
                    }
                    MetricFilter::Test(id) => format!(" AND test_id = CAST({} AS BIGINT)", p(&id.to_string())),
                };
                let order = match list {
                    MonitorList::Ranked { resource, most, .. } => {
                        format!("ORDER BY {} {}, id", resource.column(), if *most { "DESC" } else { "ASC" })
                    }
                    _ if matches!(f, MetricFilter::Test(_)) => "ORDER BY id DESC".into(),
                    _ => "ORDER BY id".into(),
                };
                (format!("FROM monitor_metrics WHERE suite_id = {s1}{cond}"), order)
            }
            MonitorList::Components { .. }
            | MonitorList::Pipelines { .. }
            | MonitorList::Builds { .. }
            | MonitorList::BuildSessions { .. } => unreachable!("value lists are built by values_query or components_query"),
        };
        Query { from_where, order, params }
    }

    /// The suite's distinct components (matching a prefix), each with the id of
    /// its first sample, as `SELECT v, first ...`. A skip scan over the
    /// (suite, component) index: one index seek per component, however many
    /// samples there are.
    fn components_query(self, prefix: Option<&str>) -> (String, Vec<String>) {
        let s1 = self.typed(1, "bigint");
        let (cond, params) = match prefix {
            Some(c) => (format!(" AND v {} {} || '%'", self.like(), self.param(2)), vec![c.to_owned()]),
            None => (String::new(), vec![]),
        };
        let sql = format!(
            "WITH RECURSIVE c(v) AS (
               SELECT (SELECT min(component) FROM monitor_metrics WHERE suite_id = {s1})
               UNION ALL
               SELECT (SELECT min(component) FROM monitor_metrics WHERE suite_id = {s1} AND component > c.v) FROM c WHERE c.v IS NOT NULL)
             SELECT v, (SELECT min(id) FROM monitor_metrics WHERE suite_id = {s1} AND component = c.v) AS first
             FROM c WHERE v IS NOT NULL{cond}"
        );
        (sql, params)
    }

    /// A list of distinct values (pipelines, builds, sessions of a build).
    fn values_query(self, list: &MonitorList) -> Option<Values> {
        let mut params: Vec<String> = Vec::new();
        let mut p = |v: &str| {
            params.push(v.to_owned());
            self.param(params.len() + 1)
        };
        let s1 = self.typed(1, "bigint");
        let (component, pipeline, build) = match list {
            MonitorList::Pipelines { component } => (component, None, None),
            MonitorList::Builds { component, pipeline } => (component, Some(pipeline), None),
            MonitorList::BuildSessions { component, pipeline, build } => (component, Some(pipeline), Some(build)),
            _ => return None,
        };
        // Kept beside the description by migration 0008 (0007 on PostgreSQL), as it gives them.
        let (branch, build_no) = ("s.pipeline_branch", "s.pipeline_build_no");
        let expr = match (pipeline, build) {
            (None, _) => branch.to_owned(),
            (Some(_), None) => build_no.to_owned(),
            (Some(_), Some(_)) => "s.session_h".to_owned(),
        };
        let mut conds = vec![format!("s.suite_id = {s1}")];
        match (pipeline, build) {
            (None, _) if component.is_none() => conds.push(format!("{branch} != ''")),
            (None, _) => {}
            (Some(pl), None) => conds.extend([format!("{branch} = {}", p(pl)), format!("{build_no} != ''")]),
            (Some(pl), Some(b)) => conds.extend([format!("{branch} = {}", p(pl)), format!("{build_no} = {}", p(b))]),
        }
        let (from, id) = match component {
            None => ("FROM monitor_sessions s".to_owned(), "s.id"),
            Some(c) => {
                // Each session's first sample of the component: one seek in the
                // (suite, component, session) index per session, where a join
                // would read every sample of the component.
                let first = format!(
                    "(SELECT min(m.id) FROM monitor_metrics m WHERE m.suite_id = s.suite_id AND m.component = {} AND m.session_h = s.session_h)",
                    p(c)
                );
                conds.push("s.first IS NOT NULL".into());
                (
                    format!(
                        "FROM (SELECT s.suite_id, s.session_h, s.pipeline_branch, s.pipeline_build_no, {first} AS first
                         FROM monitor_sessions s WHERE s.suite_id = {s1}) s"
                    ),
                    "s.first",
                )
            }
        };
        // A session hash is unique in its suite: no grouping (which, on
        // SQLite, walked every session of the suite in hash order).
        let distinct = build.is_some();
        Some(Values { expr, from_where: format!("{from} WHERE {}", conds.join(" AND ")), id, params, distinct })
    }

    /// `SELECT count(...)` of a listing.
    pub(crate) fn count_sql(self, list: &MonitorList) -> (String, Vec<String>) {
        if let Some(Values { expr, from_where, params, distinct, .. }) = self.values_query(list) {
            if distinct {
                return (format!("SELECT count(*) {from_where}"), params);
            }
            // Not count(DISTINCT ...): a null pipeline is one of the values.
            return (format!("SELECT count(*) FROM (SELECT {expr} AS v {from_where} GROUP BY {expr}) t"), params);
        }
        if let MonitorList::Components { prefix } = list {
            let (sql, params) = self.components_query(prefix.as_deref());
            return (format!("SELECT count(*) FROM ({sql}) t"), params);
        }
        let q = self.query(list);
        (format!("SELECT count(*) {}", q.from_where), q.params)
    }

    /// The page of a listing; offset and limit are the last two parameters.
    pub(crate) fn rows_sql(self, list: &MonitorList, reading: Reading) -> (String, Vec<String>) {
        if let Some(Values { expr, from_where, id, params, distinct }) = self.values_query(list) {
            let (o, l) = self.window_params(params.len() + 2);
            let sql = match distinct {
                true => format!("SELECT {expr} {from_where} ORDER BY {id} LIMIT {l} OFFSET {o}"),
                false => format!("SELECT {expr} {from_where} GROUP BY {expr} ORDER BY min({id}) LIMIT {l} OFFSET {o}"),
            };
            return (sql, params);
        }
        if let MonitorList::Components { prefix } = list {
            let (sql, params) = self.components_query(prefix.as_deref());
            let (o, l) = self.window_params(params.len() + 2);
            return (format!("SELECT v FROM ({sql}) t ORDER BY first LIMIT {l} OFFSET {o}"), params);
        }
        let q = self.query(list);
        let (o, l) = self.window_params(q.params.len() + 2);
        let sql = match list {
            MonitorList::Contexts { .. } => format!("SELECT {CONTEXT_COLS} {} {} LIMIT {l} OFFSET {o}", q.from_where, q.order),
            MonitorList::Sessions(_) | MonitorList::SessionsWithScm => {
                format!("SELECT {SESSION_COLS} {} {} LIMIT {l} OFFSET {o}", q.from_where, q.order)
            }
            MonitorList::Ranked { resource, most: true, .. } if reading == Reading::InOrder => {
                let below_all = match self {
                    Dialect::Sqlite => "-9e999",
                    Dialect::Postgres => "'-Infinity'::float8",
                };
                ranked_head_sql(resource.column(), &q.from_where, below_all, &o, &l)
            }
            MonitorList::Metrics(_) | MonitorList::Ranked { .. } => {
                let order = match reading {
                    Reading::InOrder => q.order,
                    Reading::FromEnd => "ORDER BY id DESC".into(),
                    // `+column` is an expression, so no index on the column can order the rows.
                    Reading::FilterFirst => q.order.replacen("ORDER BY ", "ORDER BY +", 1),
                };
                format!("SELECT {METRIC_COLS} {} {order} LIMIT {l} OFFSET {o}", q.from_where)
            }
            _ => unreachable!("value lists are built by values_query or components_query"),
        };
        (sql, q.params)
    }
}

/// The `limit` samples with the most of `col` (ties in id order), without
/// sorting a large tie: the index on (suite, col) walked backwards gives ties
/// in reverse id order, so the rows strictly above the cut-off value (fewer
/// than `limit`) and the first `limit` rows at it (in id order, by the same
/// index) are taken apart and merged. The cut-off is the `limit`-th value; with
/// fewer rows than that, it is `below_all` (minus infinity) and all are taken.
fn ranked_head_sql(col: &str, from_where: &str, below_all: &str, offset: &str, limit: &str) -> String {
    format!(
        "WITH cut AS (SELECT {col} AS v {from_where} ORDER BY {col} DESC LIMIT 1 OFFSET {limit} - 1)
         SELECT {METRIC_COLS} FROM (
           SELECT {METRIC_COLS}, id {from_where} AND {col} > coalesce((SELECT v FROM cut), {below_all})
           UNION ALL
           SELECT * FROM (SELECT {METRIC_COLS}, id {from_where} AND {col} = (SELECT v FROM cut) ORDER BY id LIMIT {limit}) at_cut
         ) ranked ORDER BY {col} DESC, id LIMIT {limit} OFFSET {offset}"
    )
}

/// The run a session is stored as: an upload with no results, so the run
/// carries the session's commit, CI branch and build number.
pub(crate) fn session_run(s: &MonitorSession) -> Upload {
    let (branch, build) = s.pipeline();
    let ci = s.description.get("__ci__").and_then(|v| v.as_str()).map(str::to_owned);
    Upload {
        format: "pytest-monitor".into(),
        run_env: verdict_core::RunEnv {
            key: format!("pytest-monitor-{}", s.session_h),
            ci,
            branch: branch.map(str::to_owned),
            number: build.map(str::to_owned),
            commit_sha: s.scm_ref.clone().filter(|r| !r.is_empty()),
            ..Default::default()
        },
        tags: Default::default(),
        executions: vec![],
        skipped: Default::default(),
    }
}

pub(crate) fn description_json(s: &MonitorSession) -> String {
    serde_json::to_string(&s.description).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn parse_description(text: &str) -> verdict_core::monitor::Description {
    serde_json::from_str(text).unwrap_or_default()
}

pub(crate) fn conflict(what: &str, h: &str) -> StoreError {
    StoreError::Conflict(format!("a {what} with hash {h:?} already exists with different fields"))
}

/// The error for a metric naming a session or context this suite does not have.
pub(crate) fn unknown(field: &str, what: &str, h: &str) -> StoreError {
    StoreError::NotFound(format!("{field}: no {what} {h:?} in this suite (POST it to /{what}s/ first)"))
}
