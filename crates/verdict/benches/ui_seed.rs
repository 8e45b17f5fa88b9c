//! Seed a store for the dashboard benchmark (`bench/ui.sh`) through the store
//! API, with the history spread over 90 days (`Store::import_upload`): the
//! dashboard spec's §7.1 store, with a fixed seed.
//!
//!   cargo bench -p verdict --bench ui_seed -- (--data-dir DIR | --database-url URL) [--scale 1.0]
//!
//! At scale 1: 5,000 runs (main 80%, release 20%), 1,000 tests in every run
//! and 49,000 in rotation (about 100 runs each), 3 heavy tests with 20
//! attempts in every run (100,000 executions each): about 10.3M executions.
//! About 2% failed, 1% flaky (a failed attempt, then a pass), 1% skipped; 10
//! runs in which 85% fail; 200 failure-reason templates with numbers, hex,
//! UUIDs and paths; log-normal durations; job and payload labels on 10% of runs.
//! Prints the suite slug and the ids the benchmark asks for, as JSON.

use std::sync::Arc;
use std::time::Instant;
use verdict_core::{ExecutionRecord, Outcome, RunEnv, SuiteSlug, TagMap, Upload};
use verdict_store::{NewSuite, Store, token};

const DAY_MS: i64 = 86_400_000;

/// xorshift64*: deterministic and good enough for shaping data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Log-normal around `median` seconds.
    fn duration(&mut self, median: f64) -> f64 {
        let (u1, u2) = (self.unit().max(1e-12), self.unit());
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        (median * (0.6 * z).exp() * 1e4).round() / 1e4
    }
}

fn reason(rng: &mut Rng, template: usize) -> String {
    let n = rng.next();
    match template % 5 {
        0 => format!("AssertionError: expected {} but got {} (template {template})", n % 1000, n % 977),
        1 => format!(
            "Timeout after {}ms waiting for job {:08x}-{:04x}-4{:03x}-8{:03x}-{:012x} (template {template})",
            n % 30_000,
            n as u32,
            n % 0xffff,
            n % 0xfff,
            n % 0xfff,
            n % 0xffff_ffff_ffff
        ),
        2 => format!("FileNotFoundError: /tmp/pytest-{}/data_{}.json (template {template})", n % 100, n % 10_000),
        3 => format!("segfault at 0x{:012x} in worker {} (template {template})", n % 0xffff_ffff_ffff, n % 64),
        _ => format!("ConnectionError: 10.0.{}.{}:5432 refused (template {template})", n % 255, (n >> 8) % 255),
    }
}

fn exec(scope: String, name: String, outcome: Outcome, duration: f64, attempt: u32) -> ExecutionRecord {
    let mut e = ExecutionRecord::new(&scope, &name, outcome);
    e.duration = Some(duration);
    e.attempt = attempt;
    e.file_name = Some(format!("{}.py", scope.replace('.', "/")));
    e
}

/// Run `i` of `runs`: `core` tests in every run, a window of the `rotating` others, the heavy tests.
fn run_upload(rng: &mut Rng, i: usize, runs: usize, core: usize, rotating: usize) -> Upload {
    let branch = if i % 5 == 4 { "release" } else { "main" };
    let infra = i % (runs / 10).max(1) == 7;
    let mut executions = Vec::with_capacity(core + 1000 + 60);
    let add = |rng: &mut Rng, t: usize, executions: &mut Vec<ExecutionRecord>| {
        let scope = format!("tests.module_{:03}", t % 500);
        let name = format!("test_case_{t:05}");
        let median = 0.02 + (t % 97) as f64 / 200.0;
        let roll = rng.unit();
        let failed = if infra { roll < 0.85 } else { roll < 0.02 };
        if failed {
            let mut e = exec(scope, name, Outcome::Failed, rng.duration(median), 0);
            e.failure_reason = Some(reason(rng, (t * 7) % 200));
            executions.push(e);
        } else if roll < 0.03 {
            let mut e = exec(scope.clone(), name.clone(), Outcome::Failed, rng.duration(median), 0);
            e.failure_reason = Some(reason(rng, (t * 11) % 200));
            executions.push(e);
            executions.push(exec(scope, name, Outcome::Passed, rng.duration(median), 1));
        } else if roll < 0.04 {
            executions.push(exec(scope, name, Outcome::Skipped, 0.0, 0));
        } else {
            executions.push(exec(scope, name, Outcome::Passed, rng.duration(median), 0));
        }
    };
    for t in 0..core {
        add(rng, t, &mut executions);
    }
    // The rotating tests: a window of 1000 that moves on by 10 a run, so each test is in about 100 runs.
    let per_run = 1000.min(rotating);
    let start = (i * per_run / 100) % rotating;
    for k in 0..per_run {
        add(rng, core + (start + k) % rotating.max(1), &mut executions);
    }
    for h in 0..3 {
        for a in 0..20 {
            let outcome = if rng.unit() < 0.05 { Outcome::Failed } else { Outcome::Passed };
            let mut e = exec("tests.heavy".into(), format!("test_heavy_{h}"), outcome, rng.duration(0.5 + h as f64), a);
            if outcome == Outcome::Failed {
                e.failure_reason = Some(reason(rng, h * 3));
            }
            executions.push(e);
        }
    }
    let labelled = i.is_multiple_of(10);
    let run_env = RunEnv {
        key: format!("build-{i}"),
        branch: Some(branch.into()),
        commit_sha: Some(format!("{:040x}", rng.next() as u128 * rng.next() as u128)),
        number: Some((10_000 + i).to_string()),
        url: Some(format!("https://ci.example/builds/{}", 10_000 + i)),
        message: Some(format!("Change {i}")),
        ci: Some("buildkite".into()),
        job: labelled.then(|| "e2e".into()),
        payload: labelled.then(|| format!("4.{}.0", i / 100)),
        ..Default::default()
    };
    Upload { format: "json".into(), run_env, tags: TagMap::new(), executions, skipped: Default::default() }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let scale: f64 = arg("--scale").map_or(1.0, |s| s.parse().expect("--scale is a number"));
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let store: Arc<dyn Store> = match (arg("--data-dir"), arg("--database-url")) {
            (_, Some(url)) => verdict_store::open(Some(&url), std::path::Path::new(".")).await.expect("open PostgreSQL"),
            (Some(dir), None) => verdict_store::open(None, std::path::Path::new(&dir)).await.expect("open SQLite"),
            _ => panic!("give --data-dir DIR or --database-url URL"),
        };
        let token = token::generate();
        let suite = store
            .create_suite(NewSuite {
                slug: SuiteSlug::parse("bench").unwrap(),
                name: "Bench".into(),
                default_branch: "main".into(),
                token_hash: token::hash(&token),
            })
            .await
            .expect("a fresh store");
        let runs = ((5000.0 * scale) as usize).max(10);
        let core = ((1000.0 * scale.sqrt()) as usize).max(10);
        let rotating = ((49_000.0 * scale) as usize).max(10);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let start = now - 90 * DAY_MS;
        let mut rng = Rng(0x5eed_2026_1201);
        let (mut executions, started) = (0usize, Instant::now());
        for i in 0..runs {
            let upload = run_upload(&mut rng, i, runs, core, rotating);
            executions += upload.executions.len();
            let at = start + (i as i64) * (90 * DAY_MS - 60_000) / runs as i64;
            store.import_upload(suite.id, upload, at).await.expect("import");
            if i % 250 == 0 {
                eprintln!("ui_seed: {i}/{runs} runs, {executions} executions, {:.0} s", started.elapsed().as_secs_f64());
            }
        }
        eprintln!("ui_seed: {runs} runs, {executions} executions in {:.0} s", started.elapsed().as_secs_f64());
        // The flaky analysis of every run, as `verdict serve` would do it once each settled.
        let (mut analysed, started) = (0usize, Instant::now());
        while store.flaky().analyse_due(i64::MAX / 2).await.expect("analyse").is_some() {
            analysed += 1;
            if analysed % 250 == 0 {
                eprintln!("ui_seed: {analysed}/{runs} runs analysed, {:.0} s", started.elapsed().as_secs_f64());
            }
        }
        eprintln!("ui_seed: {analysed} runs analysed in {:.0} s", started.elapsed().as_secs_f64());
        println!("{}", serde_json::json!({"suite": "bench", "runs": runs, "executions": executions, "token": token}));
    });
}
