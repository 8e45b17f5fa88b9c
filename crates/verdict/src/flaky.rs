//! `verdict flaky`: a suite's flaky and broken tests from the stored states, as the API lists them.

use crate::cli::{FlakyArgs, FlakyCommand, StoreArgs};
use std::process::ExitCode;
use verdict_analysis::flaky::{FlakyList, FlakyQuery, flaky_list, parse_states, parse_window};
use verdict_store::Page;

pub async fn run(store: StoreArgs, args: FlakyArgs) -> ExitCode {
    if let Some(FlakyCommand::Recompute { suite }) = &args.command {
        return match recompute(&store, suite).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("verdict flaky recompute: {e}");
                ExitCode::from(2)
            }
        };
    }
    match list(store, &args).await {
        Ok(list) if args.json => {
            println!("{}", serde_json::to_string_pretty(&list).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(list) => {
            print_table(&list);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("verdict flaky: {e}");
            ExitCode::from(2)
        }
    }
}

/// Queue the suite's whole history again and analyse it here, run by run, with progress on stderr.
async fn recompute(store: &StoreArgs, slug: &str) -> Result<(), String> {
    let store =
        verdict_store::open(store.database_url.as_deref(), &store.data_dir).await.map_err(|e| format!("cannot open the database: {e}"))?;
    let suite = store.suite_by_slug(slug).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no suite {slug:?}"))?;
    let queued = store.flaky().requeue_suite(suite.id).await.map_err(|e| e.to_string())?;
    eprintln!("verdict flaky recompute: {queued} uploads of {slug} queued");
    let started = std::time::Instant::now();
    let mut runs = 0u64;
    // At the real time: uploads of the last settle_secs (of this or another suite) wait for their run to settle, as in the server.
    while store.flaky().analyse_due(crate::now_ms()).await.map_err(|e| e.to_string())?.is_some() {
        runs += 1;
        if runs.is_multiple_of(500) {
            let left = store.flaky().queue_depth(Some(suite.id)).await.map_err(|e| e.to_string())?;
            eprintln!("verdict flaky recompute: {runs} runs analysed, {left} uploads left, {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    let left = store.flaky().queue_depth(Some(suite.id)).await.map_err(|e| e.to_string())?;
    println!(
        "{runs} runs analysed in {:.1} s; {left} uploads left for `verdict serve` (their runs have not settled)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn list(store: StoreArgs, args: &FlakyArgs) -> Result<FlakyList, String> {
    let slug = args.suite.as_deref().ok_or("--suite is required")?;
    let window_days = parse_window(Some(&args.window)).map_err(|e| format!("--{e}"))?;
    let states = parse_states(args.state.as_deref()).map_err(|e| format!("--{e}"))?;
    let store =
        verdict_store::open(store.database_url.as_deref(), &store.data_dir).await.map_err(|e| format!("cannot open the database: {e}"))?;
    let suite = store.suite_by_slug(slug).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no suite {slug:?}"))?;
    let owner = verdict_analysis::owners::OwnerFilter::parse(args.owner.as_deref()).map_err(|e| format!("--{e}"))?;
    let query = FlakyQuery { branch: args.branch.clone(), window_days, states, page: Page::new(1, Page::MAX_PER_PAGE), owner };
    let now = crate::now_ms();
    flaky_list(store.as_ref(), &suite, query, now).await.map_err(|e| e.to_string())
}

fn print_table(list: &FlakyList) {
    println!(
        "{:<8} {:<12} {:>24} {:>6} {:>6} {:>6} {:>7} {:>9}  SCOPE / TEST",
        "STATE", "RULE", "RATE (95% CrI)", "P>t", "RUNS", "FLAKY", "NEEDED", "LOST"
    );
    for t in &list.tests {
        let r = &t.rate.rate;
        let rate = format!("{:.1}% [{:.1}–{:.1}]", r.mean * 100.0, r.low * 100.0, r.high * 100.0);
        let needed = match &t.fix {
            Some(f) => f.clean_runs_to_confirm_fix.to_string(),
            None => t.sprt.expected_runs_to_decide.map_or("-".into(), |n| n.to_string()),
        };
        println!(
            "{:<8} {:<12} {rate:>24} {:>6.3} {:>6} {:>6} {needed:>7} {:>8.1}s  {} / {}",
            t.state.name(),
            t.rule.unwrap_or("-"),
            t.rate.p_above_threshold,
            t.evidence.runs,
            t.evidence.flaky_runs,
            t.impact.ci_seconds_lost,
            t.scope,
            t.name
        );
    }
    println!(
        "{} tests on {} over {} days (threshold {:.0}%); {} uploads not analysed yet",
        list.total,
        list.branch,
        list.window_days,
        list.threshold * 100.0,
        list.pending_uploads
    );
}
