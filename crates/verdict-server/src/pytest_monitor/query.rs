//! monitor-server-api's `/api/v1` query routes: the same shapes, filters,
//! counts and pagination, from the store's indexed tables.

use super::{PathArgs, arg, paging, suite};
use crate::AppState;
use crate::error::ApiError;
use axum::extract::{OriginalUri, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use verdict_core::monitor::{MonitorContext, MonitorSession};
use verdict_store::monitor::{MetricFilter, MonitorList, MonitorRows, SessionFilter};

/// The original's page size (`MONITOR_SERVER_PAGINATION_COUNT`).
pub const PAGE_SIZE: i64 = 500;

/// A context in the original's key order; `cpu_frequency` truncated as its INTEGER column shows it.
#[derive(Serialize)]
pub struct ContextOut<'a> {
    h: &'a str,
    cpu_count: i64,
    cpu_frequency: i64,
    cpu_type: &'a str,
    cpu_vendor: &'a str,
    ram_total: i64,
    machine_node: &'a str,
    machine_type: &'a str,
    machine_arch: &'a str,
    system_info: &'a str,
    python_info: &'a str,
}

pub fn context_json(c: &MonitorContext) -> ContextOut<'_> {
    ContextOut {
        h: &c.h,
        cpu_count: c.cpu_count,
        cpu_frequency: c.cpu_frequency.trunc() as i64,
        cpu_type: &c.cpu_type,
        cpu_vendor: &c.cpu_vendor,
        ram_total: c.ram_total,
        machine_node: &c.machine_node,
        machine_type: &c.machine_type,
        machine_arch: &c.machine_arch,
        system_info: &c.system_info,
        python_info: &c.python_info,
    }
}

#[derive(Serialize)]
pub struct SessionOut<'a> {
    session_h: &'a str,
    run_date: &'a str,
    scm_ref: Option<&'a str>,
    tags: Vec<Tag<'a>>,
}

#[derive(Serialize)]
struct Tag<'a> {
    name: &'a str,
    value: Option<String>,
}

/// A session with its description as `tags` (values as Python's `str()`).
pub fn session_json(s: &MonitorSession) -> SessionOut<'_> {
    let tags = s.description.0.iter().map(|(k, v)| Tag { name: k, value: v.python_str() }).collect();
    SessionOut { session_h: &s.session_h, run_date: &s.run_date, scm_ref: s.scm_ref.as_deref(), tags }
}

async fn page_of(s: &AppState, args: &HashMap<String, String>, uri: &Uri, list: MonitorList) -> Result<Response, ApiError> {
    let (page, pages, rows) = read_page(s, args, uri, &list).await?;
    Ok(match &rows {
        MonitorRows::Contexts(rows) => paging::list(uri, "contexts", rows.iter().map(context_json).collect(), page, pages),
        MonitorRows::Sessions(rows) => paging::list(uri, "sessions", rows.iter().map(session_json).collect(), page, pages),
        MonitorRows::Metrics(rows) => paging::list(uri, "metrics", rows.iter().collect(), page, pages),
        MonitorRows::Components(rows) => paging::list(uri, "components", rows.iter().collect(), page, pages),
        MonitorRows::Values(rows) => paging::list(uri, "values", rows.iter().collect(), page, pages),
    })
}

/// The requested page of a listing: (page, pages, its rows), or 404 for a page that does not exist.
async fn read_page(
    s: &AppState,
    args: &HashMap<String, String>,
    uri: &Uri,
    list: &MonitorList,
) -> Result<(i64, i64, MonitorRows), ApiError> {
    let suite = suite(s, args).await?;
    let requested = paging::requested_page(uri);
    let window =
        Box::new(move |total| paging::resolve(requested, total, PAGE_SIZE).ok().map(|(page, _)| ((page - 1) * PAGE_SIZE, PAGE_SIZE)));
    let (total, rows) = s.store.monitor().page(suite.id, list, window).await?;
    let (page, pages) = paging::resolve(requested, total, PAGE_SIZE)?;
    Ok((page, pages, rows))
}

async fn count_of(s: &AppState, args: &HashMap<String, String>, list: MonitorList) -> Result<Response, ApiError> {
    let suite = suite(s, args).await?;
    let count = s.store.monitor().count(suite.id, &list).await?;
    Ok(paging::json(StatusCode::OK, &json!({ "count": count })))
}

/// A paginated listing route: `$list` builds the listing from the path arguments `$a`.
macro_rules! listing {
    ($($name:ident => |$a:ident| $list:expr;)*) => {$(
        // The original URI: links keep the base (`/api/v1` or `/t/<token>/api/v1`) the request came in by.
        pub async fn $name(State(s): State<AppState>, args: PathArgs, OriginalUri(uri): OriginalUri) -> Result<Response, ApiError> {
            let $a = &args.0;
            page_of(&s, $a, &uri, $list).await
        }
    )*};
}

/// A count route (`{"count": N}`).
macro_rules! counting {
    ($($name:ident => |$a:ident| $list:expr;)*) => {$(
        pub async fn $name(State(s): State<AppState>, args: PathArgs) -> Result<Response, ApiError> {
            let $a = &args.0;
            count_of(&s, $a, $list).await
        }
    )*};
}

fn metrics_where(f: MetricFilter) -> MonitorList {
    MonitorList::Metrics(f)
}

listing! {
    contexts => |a| MonitorList::Contexts { hash_prefix: a.get("environ_hash").cloned() };
    sessions_by_scm => |a| MonitorList::Sessions(SessionFilter::ScmPrefix(arg(a, "scm").into()));
    components => |a| MonitorList::Components { prefix: a.get("component").cloned() };
    metrics => |_a| metrics_where(MetricFilter::All);
    metrics_by_context => |a| metrics_where(MetricFilter::Context(arg(a, "context_hash").into()));
    metrics_by_session => |a| metrics_where(MetricFilter::Session(arg(a, "session_hash").into()));
    metrics_by_item => |a| metrics_where(MetricFilter::Item(arg(a, "item").into()));
    metrics_by_item_pattern => |a| metrics_where(MetricFilter::ItemContains(arg(a, "item").into()));
    metrics_by_variant => |a| metrics_where(MetricFilter::Variant(arg(a, "variant").into()));
    metrics_by_variant_pattern => |a| metrics_where(MetricFilter::VariantContains(arg(a, "variant").into()));
    metrics_by_scope => |a| metrics_where(MetricFilter::Kind(arg(a, "scope").into()));
    metrics_by_scm => |a| metrics_where(MetricFilter::ScmPrefix(arg(a, "scm").into()));
    metrics_of_empty_component => |_a| metrics_where(MetricFilter::ComponentLike(String::new()));
    metrics_by_component => |a| metrics_where(MetricFilter::ComponentLike(arg(a, "component").into()));
    metrics_of_empty_component_item => |a| metrics_where(MetricFilter::ComponentItem(String::new(), arg(a, "item").into()));
    metrics_by_component_item => |a| metrics_where(MetricFilter::ComponentItem(arg(a, "component").into(), arg(a, "item").into()));
    metrics_of_empty_component_variant => |a| metrics_where(MetricFilter::ComponentVariant(String::new(), arg(a, "variant").into()));
    metrics_by_component_variant => |a| metrics_where(MetricFilter::ComponentVariant(arg(a, "component").into(), arg(a, "variant").into()));
}

counting! {
    count_contexts => |_a| MonitorList::Contexts { hash_prefix: None };
    count_sessions => |_a| MonitorList::SessionsWithScm;
    count_components => |_a| MonitorList::Components { prefix: None };
    count_metrics => |_a| metrics_where(MetricFilter::All);
    count_metrics_by_context => |a| metrics_where(MetricFilter::Context(arg(a, "context_hash").into()));
    count_metrics_by_session => |a| metrics_where(MetricFilter::Session(arg(a, "session_hash").into()));
    count_metrics_by_item => |a| metrics_where(MetricFilter::Item(arg(a, "item").into()));
    count_metrics_by_variant => |a| metrics_where(MetricFilter::Variant(arg(a, "variant").into()));
    count_metrics_by_scope => |a| metrics_where(MetricFilter::Kind(arg(a, "scope").into()));
    count_metrics_by_scm => |a| metrics_where(MetricFilter::ScmPrefix(arg(a, "scm").into()));
}

/// `/sessions/` and `/sessions/<prefix>`, with the original's `with_flags`,
/// `restrict_flags` and `method` query arguments.
pub async fn sessions(State(s): State<AppState>, args: PathArgs, OriginalUri(uri): OriginalUri) -> Result<Response, ApiError> {
    let prefix = args.0.get("session_hash").cloned();
    let query = paging::query_args(&uri);
    let first = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let filter = match first("with_flags").filter(|f| !f.is_empty()) {
        Some(keys) => {
            let values: Vec<&str> = first("restrict_flags").map(|r| r.split(',').collect()).unwrap_or_default();
            // A missing restrict value counts as empty; extra ones are ignored.
            let flags = keys.split(',').enumerate().map(|(i, k)| (k.to_owned(), values.get(i).copied().unwrap_or("").to_owned())).collect();
            SessionFilter::Flagged { hash_prefix: prefix, flags, match_any: first("method").is_none_or(|m| m == "match_any") }
        }
        None => prefix.map_or(SessionFilter::All, SessionFilter::HashPrefix),
    };
    page_of(&s, &args.0, &uri, MonitorList::Sessions(filter)).await
}

/// `/pipelines/`: every non-empty pipeline, not paginated (200, or 204 when none).
pub async fn pipelines(State(s): State<AppState>, args: PathArgs) -> Result<Response, ApiError> {
    let suite = suite(&s, &args.0).await?;
    let list = MonitorList::Pipelines { component: None };
    let values = match s.store.monitor().page(suite.id, &list, Box::new(|total| Some((0, total)))).await?.1 {
        MonitorRows::Values(v) => v,
        _ => vec![],
    };
    if values.is_empty() {
        return Ok(paging::list::<String>(&Uri::default(), "pipelines", vec![], 1, 0));
    }
    Ok(paging::json(StatusCode::OK, &json!({ "pipelines": values })))
}

/// A paginated dict route: the path's labels, then the values under `key`,
/// `prev_url`/`next_url` (null when absent) and `total_page`, always 200.
async fn values_dict(
    s: &AppState,
    args: &HashMap<String, String>,
    uri: &Uri,
    labels: &[(&'static str, &str)],
    key: &'static str,
    list: MonitorList,
) -> Result<Response, ApiError> {
    let (page, pages, values) = match read_page(s, args, uri, &list).await? {
        (page, pages, MonitorRows::Values(v)) => (page, pages, v),
        (page, pages, _) => (page, pages, vec![]),
    };
    let mut body: Vec<(&str, serde_json::Value)> = labels.iter().map(|(k, v)| (*k, json!(v))).collect();
    body.push((key, json!(values)));
    body.push(("prev_url", json!((page > 1).then(|| paging::link(uri, page - 1)))));
    body.push(("next_url", json!((page < pages).then(|| paging::link(uri, page + 1)))));
    body.push(("total_page", json!(pages)));
    Ok(paging::json(StatusCode::OK, &paging::Ordered(body)))
}

/// A dict route over pipelines, builds or sessions.
macro_rules! dict {
    ($($name:ident => |$a:ident| ($labels:expr, $key:literal, $list:expr);)*) => {$(
        pub async fn $name(State(s): State<AppState>, args: PathArgs, OriginalUri(uri): OriginalUri) -> Result<Response, ApiError> {
            let $a = &args.0;
            values_dict(&s, $a, &uri, &$labels, $key, $list).await
        }
    )*};
}

dict! {
    component_pipelines => |a| ([("component", arg(a, "component"))], "pipelines",
        MonitorList::Pipelines { component: Some(arg(a, "component").into()) });
    component_pipeline_builds => |a| ([("component", arg(a, "component")), ("pipeline", arg(a, "pipeline"))], "builds",
        MonitorList::Builds { component: Some(arg(a, "component").into()), pipeline: arg(a, "pipeline").into() });
    component_build_sessions => |a| ([("component", arg(a, "component")), ("pipeline", arg(a, "pipeline")), ("build", arg(a, "build_no"))], "sessions",
        MonitorList::BuildSessions { component: Some(arg(a, "component").into()), pipeline: arg(a, "pipeline").into(), build: arg(a, "build_no").into() });
    pipeline_builds => |a| ([("pipeline", arg(a, "pipeline"))], "builds",
        MonitorList::Builds { component: None, pipeline: arg(a, "pipeline").into() });
    pipeline_build_sessions => |a| ([("pipeline", arg(a, "pipeline")), ("build", arg(a, "build_no"))], "sessions",
        MonitorList::BuildSessions { component: None, pipeline: arg(a, "pipeline").into(), build: arg(a, "build_no").into() });
}
