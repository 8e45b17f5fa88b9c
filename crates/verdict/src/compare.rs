//! `verdict compare`: component-readiness verdicts per test, basis against sample.

use crate::cli::{CompareArgs, StoreArgs};
use std::process::ExitCode;
use verdict_analysis::compare::{ComparedTest, compare_selections, parse_selection};
use verdict_core::readiness::{Options, Status};

pub async fn run(store: StoreArgs, args: CompareArgs) -> ExitCode {
    match compare(store, &args).await {
        Ok(rows) if rows.iter().any(ComparedTest::regressed) => ExitCode::FAILURE,
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verdict compare: {e}");
            ExitCode::from(2)
        }
    }
}

async fn compare(store: StoreArgs, args: &CompareArgs) -> Result<Vec<ComparedTest>, String> {
    let now = crate::now_ms();
    let basis = parse_selection(&args.basis, now).map_err(|e| format!("--basis: {e}"))?;
    let sample = parse_selection(&args.sample, now).map_err(|e| format!("--sample: {e}"))?;
    let options = Options::with_thresholds(Some(args.confidence), Some(args.pity), Some(args.min_fail)).map_err(|e| format!("--{e}"))?;
    let store =
        verdict_store::open(store.database_url.as_deref(), &store.data_dir).await.map_err(|e| format!("cannot open the database: {e}"))?;
    let suite = store.suite_by_slug(&args.suite).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no suite {:?}", args.suite))?;
    let rows = compare_selections(store.as_ref(), suite.id, &basis, &sample, &options).await.map_err(|e| e.to_string())?;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    print_table(&rows, args.all);
    Ok(rows)
}

fn print_table(rows: &[ComparedTest], all: bool) {
    let pct = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0));
    println!("{:<24} {:>10} {:>10} {:>10}  SCOPE / TEST", "VERDICT", "BASIS", "SAMPLE", "P-VALUE");
    for r in rows.iter().filter(|r| all || r.comparison.status != Status::NotSignificant) {
        let c = &r.comparison;
        let p = c.p_value.map_or("-".to_string(), |p| format!("{p:.2e}"));
        let status = format!("{:?}", c.status);
        println!("{status:<24} {:>10} {:>10} {p:>10}  {} / {}", pct(c.basis_pass_rate), pct(c.sample_pass_rate), r.scope, r.name);
    }
    let regressed = rows.iter().filter(|r| r.regressed()).count();
    let improved = rows.iter().filter(|r| r.comparison.status == Status::SignificantImprovement).count();
    println!("{} tests: {regressed} regressed, {improved} improved", rows.len());
}
