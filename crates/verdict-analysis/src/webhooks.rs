//! Webhook endpoints as the API and the CLI manage them: checked asks, a
//! suite's endpoints and their delivery logs, retries on demand. The sender
//! itself is the server's (`verdict_server::webhook_sender`).

use crate::AnalysisError;
use serde::Serialize;
use verdict_core::webhook::{EventType, Format, Secret};
use verdict_store::webhooks::{Delivery, Endpoint, NewEndpoint};
use verdict_store::{Store, Suite};

/// The longest endpoint URL kept.
pub const MAX_URL_CHARS: usize = 2048;
/// Endpoints a suite may have at once.
pub const MAX_ENDPOINTS_PER_SUITE: usize = 50;
/// Deliveries a log shows at most.
pub const MAX_LOG: i64 = 500;

/// An endpoint as a person asks for it.
#[derive(Debug, Clone, Default)]
pub struct EndpointAsk {
    pub url: String,
    /// `whsec_…`; none: one is made (and shown once).
    pub secret: Option<String>,
    /// Event type names; none: every event.
    pub events: Vec<String>,
    /// `standard` (default) or `slack`.
    pub format: Option<String>,
    pub owner: Option<String>,
    pub description: Option<String>,
}

impl EndpointAsk {
    /// The endpoint to keep, or what is wrong with the ask.
    pub fn check(self, suite_id: i64, fresh_secret: impl FnOnce() -> String) -> Result<NewEndpoint, String> {
        let url = self.url.trim().to_owned();
        if url.chars().count() > MAX_URL_CHARS {
            return Err(format!("url: at most {MAX_URL_CHARS} characters"));
        }
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
        match rest {
            Some(r) if !r.is_empty() && !r.starts_with('/') && !r.chars().any(|c| c.is_whitespace() || c.is_control()) => {}
            _ => return Err(format!("url: an http:// or https:// URL with a host, not {url:?}")),
        }
        let secret = match self.secret {
            Some(s) => {
                Secret::parse(s.trim()).map_err(|e| format!("secret: {e}"))?;
                s.trim().to_owned()
            }
            None => fresh_secret(),
        };
        let mut events = Vec::new();
        for e in &self.events {
            let e = EventType::parse(e.trim()).map_err(|e| format!("events: {e}"))?;
            if !events.contains(&e) {
                events.push(e);
            }
        }
        let format = Format::parse(self.format.as_deref().unwrap_or("standard")).map_err(|e| format!("format: {e}"))?;
        let short = |name: &str, v: Option<String>| match v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
            Some(v) if v.chars().count() > 200 => Err(format!("{name}: at most 200 characters")),
            v => Ok(v),
        };
        Ok(NewEndpoint {
            suite_id,
            url,
            secret,
            format,
            events,
            owner: short("owner", self.owner)?,
            description: short("description", self.description)?,
        })
    }
}

/// A new endpoint, with its secret: the only time it is shown.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    pub secret: String,
}

/// Why an endpoint could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
}

pub async fn add_endpoint(store: &dyn Store, suite: &Suite, ask: EndpointAsk, now_ms: i64) -> Result<Created, AddError> {
    let new = ask.check(suite.id, verdict_store::token::webhook_secret).map_err(AddError::Invalid)?;
    let have = store.webhooks().endpoints(suite.id).await.map_err(AnalysisError::from)?;
    if have.len() >= MAX_ENDPOINTS_PER_SUITE {
        return Err(AddError::Invalid(format!("a suite has at most {MAX_ENDPOINTS_PER_SUITE} webhook endpoints; remove one first")));
    }
    let endpoint = store.webhooks().add_endpoint(&new, now_ms).await.map_err(AnalysisError::from)?;
    Ok(Created { secret: endpoint.secret.clone(), endpoint })
}

pub async fn endpoint(store: &dyn Store, suite: &Suite, id: &str) -> Result<Endpoint, AnalysisError> {
    store
        .webhooks()
        .endpoint(suite.id, id)
        .await?
        .ok_or_else(|| AnalysisError::NotFound(format!("no webhook endpoint {id:?} in suite {}", suite.slug)))
}

/// Give an endpoint a new secret (`secret`, or one made here); the new secret.
/// For 24 h deliveries carry the old secret's signature too, so receivers can switch.
pub async fn rotate_secret(store: &dyn Store, suite: &Suite, id: &str, secret: Option<String>, now_ms: i64) -> Result<String, AddError> {
    let secret = match secret.map(|s| s.trim().to_owned()) {
        Some(s) => {
            Secret::parse(&s).map_err(|e| AddError::Invalid(format!("secret: {e}")))?;
            s
        }
        None => verdict_store::token::webhook_secret(),
    };
    match store.webhooks().rotate_secret(suite.id, id, &secret, now_ms).await.map_err(AnalysisError::from)? {
        true => Ok(secret),
        false => Err(AnalysisError::NotFound(format!("no webhook endpoint {id:?} in suite {}", suite.slug)).into()),
    }
}

pub async fn remove_endpoint(store: &dyn Store, suite: &Suite, id: &str, now_ms: i64) -> Result<(), AnalysisError> {
    match store.webhooks().remove_endpoint(suite.id, id, now_ms).await? {
        true => Ok(()),
        false => Err(AnalysisError::NotFound(format!("no webhook endpoint {id:?} in suite {}", suite.slug))),
    }
}

/// An endpoint's delivery log, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryLog {
    pub endpoint: Endpoint,
    pub deliveries: Vec<Delivery>,
}

pub async fn delivery_log(store: &dyn Store, suite: &Suite, id: &str, limit: i64) -> Result<DeliveryLog, AnalysisError> {
    let endpoint = endpoint(store, suite, id).await?;
    let deliveries = store.webhooks().deliveries(&endpoint.id, limit.clamp(1, MAX_LOG)).await?;
    Ok(DeliveryLog { endpoint, deliveries })
}

/// Send a delivery again now (dead or delivered alike).
pub async fn retry(store: &dyn Store, suite: &Suite, id: &str, delivery_id: i64, now_ms: i64) -> Result<(), AnalysisError> {
    let endpoint = endpoint(store, suite, id).await?;
    match store.webhooks().retry_delivery(&endpoint.id, delivery_id, now_ms).await? {
        true => Ok(()),
        false => Err(AnalysisError::NotFound(format!("no delivery {delivery_id} to endpoint {id:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(url: &str) -> EndpointAsk {
        EndpointAsk { url: url.into(), ..Default::default() }
    }

    #[test]
    fn asks_are_checked() {
        let ok = ask("https://hooks.example/x").check(1, || "whsec_made".into()).unwrap();
        assert_eq!((ok.url.as_str(), ok.secret.as_str(), ok.format), ("https://hooks.example/x", "whsec_made", Format::Standard));
        let full = EndpointAsk {
            url: " http://127.0.0.1:9000/hook ".into(),
            secret: Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
            events: vec!["cluster.created".into(), "cluster.created".into(), "run.failed".into()],
            format: Some("slack".into()),
            owner: Some(" payments ".into()),
            description: Some("".into()),
        }
        .check(1, || unreachable!())
        .unwrap();
        assert_eq!(full.events, [EventType::ClusterCreated, EventType::RunFailed]);
        assert_eq!((full.format, full.owner.as_deref(), full.description), (Format::Slack, Some("payments"), None));
        for bad in ["ftp://x", "http://", "https:///path", "hooks.example", "http://a b", &format!("https://{}", "a".repeat(2048))] {
            assert!(ask(bad).check(1, String::new).unwrap_err().starts_with("url:"), "{bad}");
        }
        let bad = |f: fn(&mut EndpointAsk)| {
            let mut a = ask("https://x");
            f(&mut a);
            a.check(1, String::new).unwrap_err()
        };
        assert!(bad(|a| a.secret = Some("nope".into())).starts_with("secret:"));
        assert!(bad(|a| a.events = vec!["test.exploded".into()]).starts_with("events:"));
        assert!(bad(|a| a.format = Some("teams".into())).starts_with("format:"));
        assert!(bad(|a| a.owner = Some("x".repeat(201))).starts_with("owner:"));
    }
}
