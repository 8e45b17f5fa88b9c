//! monitor-server-api's `/resources/<resource>/...{head,tail}` routes: the
//! samples that used the most (head) or the least (tail) of a resource,
//! across the suite or within a pipeline, a pipeline's build or a component.

use super::{PathArgs, arg, paging, suite};
use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use serde::Serialize;
use verdict_core::monitor::MonitorMetric;
use verdict_store::monitor::{MetricFilter, MonitorList, MonitorRows, Resource};

/// The original's default and largest number of samples.
const DEFAULT_MAX: i64 = 10;
const LARGEST_MAX: i64 = 500;

/// The 16 rules: 4 scopes × head/tail × with or without `<max_element>`.
pub fn routes() -> Router<AppState> {
    let scopes = ["", "/pipelines/{pipeline}", "/pipelines/{pipeline}/builds/{build}", "/components/{component}"];
    let mut router = Router::new();
    for scope in scopes {
        for (end, most) in [("head", true), ("tail", false)] {
            for max in ["", "/{max_element}"] {
                let path = format!("/resources/{{resource}}{scope}/{end}{max}/metrics");
                router = router.route(&path, get(move |state: State<AppState>, args: PathArgs| ranked(state, args, most)));
            }
        }
    }
    router
}

async fn ranked(State(s): State<AppState>, args: PathArgs, most: bool) -> Result<Response, ApiError> {
    let a = &args.0;
    // The token first, as on every other route: a caller without one learns nothing about the path.
    let suite = suite(&s, a).await?;
    let name = arg(a, "resource");
    let resource = Resource::from_name(name).ok_or_else(|| {
        // The original answers 500 (a KeyError); an unknown resource is a URL that names nothing.
        ApiError::not_found(format!("no resource {name:?}: one of {}", Resource::NAMES.join(", ")))
    })?;
    let limit = match a.get("max_element") {
        None => DEFAULT_MAX,
        Some(m) => max_element(m)?,
    };
    let filter = if let Some(pipeline) = a.get("pipeline") {
        MetricFilter::Pipeline { pipeline: pipeline.clone(), build: a.get("build").cloned() }
    } else if let Some(component) = a.get("component") {
        MetricFilter::Component(component.clone())
    } else {
        MetricFilter::All
    };
    let list = MonitorList::Ranked { filter, resource, most };
    let metrics = match limit {
        0 => vec![],
        _ => match s.store.monitor().rows(suite.id, &list, 0, limit).await? {
            MonitorRows::Metrics(m) => m,
            _ => vec![],
        },
    };
    // Not paginated, and 200 even when empty, as the original answers.
    Ok(paging::json(StatusCode::OK, &RankedOut { metrics: &metrics, prev_url: None, next_url: None, total_page: 1 }))
}

/// The original's key order.
#[derive(Serialize)]
struct RankedOut<'a> {
    metrics: &'a [MonitorMetric],
    prev_url: Option<String>,
    next_url: Option<String>,
    total_page: i64,
}

/// `<int:max_element>`: ASCII digits only (anything else is no route, as in
/// Werkzeug), capped at 500 however large.
fn max_element(text: &str) -> Result<i64, ApiError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::not_found(format!("max_element must be a whole number, not {text:?}")));
    }
    Ok(text.parse::<i64>().map_or(LARGEST_MAX, |n| n.min(LARGEST_MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_element_is_capped_and_digits_only() {
        assert_eq!(max_element("0").unwrap(), 0);
        assert_eq!(max_element("007").unwrap(), 7);
        assert_eq!(max_element("501").unwrap(), 500);
        assert_eq!(max_element("99999999999999999999999").unwrap(), 500);
        assert!(max_element("-1").is_err());
        assert!(max_element("1e3").is_err());
        assert!(max_element("").is_err());
    }
}
