//! `verdict webhook add|list|remove|deliveries|retry`: a suite's webhook endpoints, on the store.

use crate::cli::{StoreArgs, WebhookCommand};
use std::process::ExitCode;
use verdict_analysis::webhooks::{self, AddError, EndpointAsk};

pub async fn run(store: StoreArgs, cmd: WebhookCommand) -> ExitCode {
    match go(store, cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verdict webhook: {e}");
            ExitCode::from(2)
        }
    }
}

fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

async fn go(store: StoreArgs, cmd: WebhookCommand) -> Result<(), String> {
    let now = crate::now_ms();
    match cmd {
        WebhookCommand::Add { suite, url, secret, events, format, owner, description } => {
            let (store, suite) = crate::failures::open(&store, &suite).await?;
            let ask = EndpointAsk { url, secret, events, format: Some(format), owner, description };
            let made = webhooks::add_endpoint(store.as_ref(), &suite, ask, now).await.map_err(|e| match e {
                AddError::Invalid(m) => m,
                AddError::Analysis(e) => e.to_string(),
            })?;
            eprintln!("Added {} to {}; keep the secret: it is not shown again.", made.endpoint.id, suite.slug);
            println!("{}\t{}", made.endpoint.id, made.secret);
        }
        WebhookCommand::List { suite, json } => {
            let (store, suite) = crate::failures::open(&store, &suite).await?;
            let list = store.webhooks().endpoints(suite.id).await.map_err(|e| e.to_string())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?);
                return Ok(());
            }
            println!("{:<30} {:<8} {:<9} {:<40} URL", "ID", "FORMAT", "STATE", "EVENTS");
            for e in list {
                let state = if e.enabled { "enabled" } else { "disabled" };
                let events = if e.events.is_empty() { "all".to_owned() } else { e.events.join(",") };
                println!("{:<30} {:<8} {state:<9} {events:<40} {}", e.id, e.format, e.url);
                if let Some(why) = e.disabled_reason {
                    println!("{:<30} disabled: {why}", "");
                }
            }
        }
        WebhookCommand::Rotate { suite, id, secret } => {
            let (store, suite) = crate::failures::open(&store, &suite).await?;
            let secret = webhooks::rotate_secret(store.as_ref(), &suite, &id, secret, now).await.map_err(|e| match e {
                AddError::Invalid(m) => m,
                AddError::Analysis(e) => e.to_string(),
            })?;
            eprintln!("New secret for {id}; keep it: it is not shown again. For 24 h deliveries are signed with the old one too.");
            println!("{secret}");
        }
        WebhookCommand::Remove { suite, id } => {
            let (store, suite) = crate::failures::open(&store, &suite).await?;
            webhooks::remove_endpoint(store.as_ref(), &suite, &id, now).await.map_err(|e| e.to_string())?;
            eprintln!("Removed {id} from {}.", suite.slug);
        }
        WebhookCommand::Deliveries { suite, id, limit, json } => {
            let (store, suite) = crate::failures::open(&store, &suite).await?;
            let log = webhooks::delivery_log(store.as_ref(), &suite, &id, limit).await.map_err(|e| e.to_string())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&log).map_err(|e| e.to_string())?);
                return Ok(());
            }
            println!("{:>8} {:<20} {:<10} {:>8} {:>6} {:<19} LAST", "ID", "TYPE", "STATE", "ATTEMPTS", "STATUS", "CREATED");
            for d in log.deliveries {
                let status = d.last_status.map_or_else(|| "-".into(), |s| s.to_string());
                let last = match d.log.first() {
                    Some(a) => format!(
                        "{} in {} ms{}",
                        time(a.sent_at_ms),
                        a.duration_ms,
                        a.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
                    ),
                    None => d.next_at_ms.map_or_else(String::new, |at| format!("due {}", time(at))),
                };
                println!("{:>8} {:<20} {:<10} {:>8} {status:>6} {:<19} {last}", d.id, d.kind, d.state, d.attempts, time(d.created_at_ms));
            }
        }
        WebhookCommand::Retry { suite, id, delivery } => {
            let (store, suite) = crate::failures::open(&store, &suite).await?;
            webhooks::retry(store.as_ref(), &suite, &id, delivery, now).await.map_err(|e| e.to_string())?;
            eprintln!("Delivery {delivery} is due again now; a running server sends it.");
        }
    }
    Ok(())
}
