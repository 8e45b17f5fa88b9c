//! `/s/{suite}/webhooks`: the suite's webhook endpoints and each one's
//! latest deliveries with their attempts (status, latency, answer). URLs
//! are shown as scheme and host only: a Slack incoming-webhook URL is its
//! own secret, and the page is open to every reader. Endpoints are changed
//! with `verdict webhook` or the API (with the suite's manage token).

use super::format::{self, encode};
use super::{Frame, PageError, link, respond};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use verdict_analysis::webhooks::delivery_log;

/// Deliveries shown per endpoint.
const SHOWN: i64 = 20;

pub struct EndpointBox {
    pub id: String,
    pub target: String,
    pub format: String,
    pub events: String,
    pub owner: String,
    pub description: String,
    pub enabled: bool,
    pub disabled_reason: String,
    pub deliveries: Vec<DeliveryRow>,
}

pub struct DeliveryRow {
    pub id: i64,
    pub kind: String,
    pub message_id: String,
    pub state: String,
    pub attempts: i64,
    pub status: String,
    pub when: String,
    pub latency: String,
    pub note: String,
}

#[derive(askama::Template)]
#[template(path = "webhooks.html")]
struct WebhooksHtml {
    frame: Frame,
    name: String,
    slug: String,
    endpoints: Vec<EndpointBox>,
}

/// `https://hooks.slack.com/…`: the scheme and host, the rest hidden.
pub fn masked(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    if rest.len() > host.len() { format!("{scheme}://{host}/…") } else { format!("{scheme}://{host}") }
}

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(format::utc).unwrap_or_default()
}

pub async fn page(State(state): State<AppState>, page: super::SuitePage) -> Result<Response, PageError> {
    let super::SuitePage { suite, view, mut timing, .. } = page;
    let store = state.store.as_ref();
    let mut endpoints = Vec::new();
    for e in store.webhooks().endpoints(suite.id).await? {
        let log = delivery_log(store, &suite, &e.id, SHOWN).await?;
        let deliveries = log
            .deliveries
            .into_iter()
            .map(|d| {
                let last = d.log.first();
                let note = match last {
                    Some(a) => a.error.clone().or_else(|| a.response.clone()).unwrap_or_default(),
                    None => String::new(),
                };
                DeliveryRow {
                    id: d.id,
                    kind: d.kind,
                    message_id: d.message_id,
                    state: d.state.clone(),
                    attempts: d.attempts,
                    status: d.last_status.map_or_else(|| "—".into(), |s| s.to_string()),
                    when: match (last, d.next_at_ms) {
                        (Some(a), _) if d.state != "pending" => at(a.sent_at_ms),
                        (_, Some(next)) => format!("next {}", at(next)),
                        (Some(a), None) => at(a.sent_at_ms),
                        (None, None) => at(d.created_at_ms),
                    },
                    latency: last.map_or_else(String::new, |a| format!("{} ms", a.duration_ms)),
                    note: format::first_line(&note, 160),
                }
            })
            .collect();
        endpoints.push(EndpointBox {
            target: masked(&e.url),
            format: e.format,
            events: if e.events.is_empty() { "every event".into() } else { e.events.join(", ") },
            owner: e.owner.unwrap_or_default(),
            description: e.description.unwrap_or_default(),
            enabled: e.enabled,
            disabled_reason: e.disabled_reason.unwrap_or_default(),
            id: e.id,
            deliveries,
        });
    }
    timing.queried();
    let path = format!("/s/{}/webhooks", encode(&suite.slug, false));
    let frame = Frame::new(format!("Webhooks · {}", suite.name))
        .in_suite(&suite.slug, &suite.name, &view, "webhooks")
        .crumb("Webhooks", link(&path, &view, &[]))
        .twin("webhooks (manage token)", format!("/api/v1/suites/{}/webhooks", encode(&suite.slug, false)))
        .cli(format!("verdict webhook list {}", suite.slug))
        .served(state.store.backend(), &timing);
    Ok(respond(&WebhooksHtml { frame, name: suite.name.clone(), slug: suite.slug.clone(), endpoints }, &timing))
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_show_their_host_only() {
        assert_eq!(super::masked("https://hooks.slack.com/services/T0/B0/secret"), "https://hooks.slack.com/…");
        assert_eq!(super::masked("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(super::masked("https://user:pw@x.example/h?k=1"), "https://x.example/…");
    }
}
