//! `verdict failures`: a suite's failure clusters from the store, and its rules.

use crate::cli::{FailuresArgs, FailuresCommand, RuleCommand, StoreArgs};
use std::process::ExitCode;
use std::sync::Arc;
use verdict_analysis::clusters::{ClusterList, NewRule, cluster_list, new_rule};
use verdict_analysis::flaky::parse_window;
use verdict_store::{Store, Suite};

pub async fn run(store: StoreArgs, args: FailuresArgs) -> ExitCode {
    match go(store, args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verdict failures: {e}");
            ExitCode::from(2)
        }
    }
}

pub(crate) async fn open(store: &StoreArgs, slug: &str) -> Result<(Arc<dyn Store>, Suite), String> {
    let store =
        verdict_store::open(store.database_url.as_deref(), &store.data_dir).await.map_err(|e| format!("cannot open the database: {e}"))?;
    let suite = store.suite_by_slug(slug).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no suite {slug:?}"))?;
    Ok((store, suite))
}

/// A new rule is applied to this many days of stored failures.
const RULE_DAYS: i64 = 7;

async fn go(store: StoreArgs, args: FailuresArgs) -> Result<(), String> {
    match args.command {
        Some(FailuresCommand::Rule(RuleCommand::Add { suite, name, like, regex, bug, priority })) => {
            let rule = new_rule(NewRule { name, like, regex, bug_url: bug, priority })?;
            let (store, suite) = open(&store, &suite).await?;
            store.clusters().add_rule(suite.id, &rule).await.map_err(|e| e.to_string())?;
            let n = store.clusters().recluster(suite.id, crate::now_ms() - RULE_DAYS * 86_400_000).await.map_err(|e| e.to_string())?;
            eprintln!("verdict failures: the rule applied to the last {RULE_DAYS} days ({n} failures clustered again)");
            println!("{}", rule.id);
            Ok(())
        }
        Some(FailuresCommand::Rule(RuleCommand::List { suite })) => {
            let (store, suite) = open(&store, &suite).await?;
            for r in store.clusters().rules(suite.id).await.map_err(|e| e.to_string())? {
                let (kind, pattern) = match &r.pattern {
                    verdict_core::clusters::rules::RulePattern::Like(p) => ("like", p),
                    verdict_core::clusters::rules::RulePattern::Regex(p) => ("regex", p),
                };
                println!(
                    "{}  {:>4}  {kind:<5}  {}  {pattern}{}",
                    r.id,
                    r.priority,
                    r.name,
                    r.bug_url.map(|b| format!("  {b}")).unwrap_or_default()
                );
            }
            Ok(())
        }
        Some(FailuresCommand::Recluster { suite, days }) => {
            if !(1..=3650).contains(&days) {
                return Err(format!("--days: 1 to 3650, got {days}"));
            }
            let (store, suite) = open(&store, &suite).await?;
            let n = store.clusters().recluster(suite.id, crate::now_ms() - days * 86_400_000).await.map_err(|e| e.to_string())?;
            println!("{n} failures of the last {days} days clustered again");
            Ok(())
        }
        Some(FailuresCommand::Rule(RuleCommand::Remove { suite, id })) => {
            let (store, suite) = open(&store, &suite).await?;
            store.clusters().remove_rule(suite.id, &id).await.map_err(|e| e.to_string())
        }
        None => {
            let slug = args.suite.ok_or("--suite is required")?;
            let window = parse_window(Some(&args.window)).map_err(|e| format!("--{e}"))?;
            let (store, suite) = open(&store, &slug).await?;
            let owner = verdict_analysis::owners::OwnerFilter::parse(args.owner.as_deref()).map_err(|e| format!("--{e}"))?;
            let list = cluster_list(store.as_ref(), &suite, window, owner.as_ref(), crate::now_ms()).await.map_err(|e| e.to_string())?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
            } else {
                print_table(&list);
            }
            Ok(())
        }
    }
}

fn print_table(list: &ClusterList) {
    let w = format!("{}d", list.window_days);
    println!("{:>6} {:>6} {:>6} {:>6} {:>6}  {:<6} TITLE", "1D", "3D", "7D", "TESTS", "RUNS", "KIND");
    for c in &list.clusters {
        let n = |k: &str| c.impact.get(k).map_or(0, |i| i.failures);
        let window = c.impact.get(&w).copied().unwrap_or_default();
        println!("{:>6} {:>6} {:>6} {:>6} {:>6}  {:<6} {}", n("1d"), n("3d"), n("7d"), window.tests, window.runs, c.kind, c.title);
    }
    println!("{} clusters with failures in the last {} days", list.clusters.len(), list.window_days);
}
