//! Flags, parsed once into plain structs. Every flag can also come from a
//! `VERDICT_*` environment variable; flags win over the environment, which
//! wins over the defaults.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "verdict",
    version,
    about = "Self-hosted test analytics: ingest CI test results, keep their history, find what is flaky, broken or slow."
)]
pub struct Cli {
    /// A TOML file of settings (keys: the long flags of serve and the store, e.g. listen, data-dir, read-token); flags and environment variables override it.
    #[arg(long, global = true, env = "VERDICT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the data lives; shared by the server and the admin commands.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Directory of the embedded SQLite database (used when no --database-url is given).
    #[arg(long, global = true, env = "VERDICT_DATA_DIR", default_value = "./verdict-data")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL (postgres://user@host:5432/db); several servers can share one database.
    #[arg(long, global = true, env = "VERDICT_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server: the Buildkite-compatible upload API and the read API.
    Serve(ServeArgs),
    /// Create and list suites, rotate their upload tokens.
    #[command(subcommand)]
    Suite(SuiteCommand),
    /// Upload JUnit XML or Buildkite JSON result files to a Verdict server.
    Upload(UploadArgs),
    /// Judge repeated runs of one job: did any test do worse than its history allows?
    Aggregate(AggregateArgs),
    /// Compare each test between a basis and a sample (branches or windows of days): significantly worse or better?
    Compare(CompareArgs),
    /// Compare percentile allowances (current against new) and flag P99 increases beyond a leeway.
    AnalyzeHistoricalData(AnalyzeArgs),
    /// Statistics behind Verdict's verdicts, computed on the spot.
    #[command(subcommand)]
    Stats(StatsCommand),
    /// Flaky and broken tests of a suite, with how sure Verdict is and what they cost.
    Flaky(FlakyArgs),
    /// Failures grouped by their cause (clusters), and the suite's rules that name causes.
    Failures(FailuresArgs),
    /// Mute, skip or enable a test (whether its failures fail the build), and list the quarantined ones.
    #[command(subcommand)]
    Test(TestCommand),
    /// Run a test command, upload the results it wrote, and exit 0 when every failed test is muted.
    Run(RunArgs),
    /// Split test files (or tests) over CI nodes by their timing history: print this node's share.
    Plan(PlanArgs),
    /// A suite's webhook endpoints: add, list, remove, and their delivery logs.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// A run against its base, as Markdown: new failures with their cause and owners, still failing, fixed, flaky, muted, slower.
    Summary(SummaryArgs),
    /// A suite's owners file (TESTOWNERS or CODEOWNERS syntax): upload, show, and whose a path is.
    #[command(subcommand)]
    Owners(OwnersCommand),
    /// Test-suite reports (ReSim's model): create one over a window of a branch's runs, show it, run a report-metrics program for it.
    #[command(subcommand)]
    Report(ReportCommand),
    /// A consistent copy of the embedded SQLite store, taken while the server runs (SQLite's online backup).
    #[command(
        after_help = "Copies --data-dir's verdict.db into FILE (a new file) as of the moment the copy starts; uploads go on meanwhile and are in the next backup. The copy is checked (SQLite quick_check) and renamed into place, so FILE is never partial; it is a store: serve it with --data-dir on a directory holding it as verdict.db. For PostgreSQL use pg_dump (README, \"Backups\"). Exit status: 0, or 2 for a missing store, an existing FILE, PostgreSQL, or a database error."
    )]
    Backup(BackupArgs),
    /// Config files: check one.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand, Debug)]
#[command(
    after_help = "A config file is TOML with one key per setting, named as the long flag (listen, data-dir, database-url, public-url, read-token, max-body-bytes, max-decompressed-bytes, body-timeout-secs, max-connections, max-parse-memory, pytest-monitor-suite, log-format, retention-days; - or _). Give it with --config FILE or VERDICT_CONFIG; a flag or an environment variable overrides the file, which overrides the defaults. Exit status: 0 when the file is good, 2 otherwise (the message names the line)."
)]
pub enum ConfigCommand {
    /// Check a config file: every key known, every value one its flag takes.
    Check { file: PathBuf },
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The file to write (it must not exist).
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Subcommand, Debug)]
#[command(
    after_help = "Works on the store directly. A report is also ReSim's: point a report-metrics program at apiURL http://HOST:PORT/resim/v1 with the printed report_config.json. Exit status: 0, or 2 for invalid arguments, an unknown suite or report, or a database error."
)]
pub enum ReportCommand {
    /// Store a report of SUITE's runs on BRANCH over a window; prints its ID, the project ID and report_config.json.
    Create {
        #[arg(long)]
        suite: String,
        #[arg(long)]
        branch: String,
        /// The window's length back from --to (or now): 28d, 36h, 90m.
        #[arg(long, conflicts_with = "from")]
        length: Option<String>,
        /// The window's start, RFC 3339 (2024-03-01T00:00:00Z) or a date (2024-03-01, UTC).
        #[arg(long)]
        from: Option<String>,
        /// The window's end (default: now).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Only batches of the report's test-suite revision (Verdict's suites have one, 0).
        #[arg(long)]
        respect_revision_boundary: bool,
        /// Write report_config.json here, for a ReSim report-metrics program.
        #[arg(long)]
        config_out: Option<std::path::PathBuf>,
        /// The apiURL written in report_config.json.
        #[arg(long, env = "VERDICT_RESIM_API_URL", default_value = "http://127.0.0.1:8080/resim/v1")]
        api_url: String,
        /// The authToken written in report_config.json: the server's read token, when it has one (when the read API is open any bearer works; ReSim's client refuses an empty one).
        #[arg(long, env = "VERDICT_READ_TOKEN", hide_env_values = true, default_value = "open")]
        token: String,
    },
    /// Print a report (by its ID) and the batches (runs) it covers.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Run a ReSim report-metrics program for a report and store the metrics.binproto it writes.
    #[command(
        after_help = "Writes report_config.json for the report, runs COMMAND, then validates and stores its metrics.binproto as the report's metrics (shown on its report page and by GET /resim/v1/projects/P/reports/R/metrics). In COMMAND, {config} and {output} stand for the two files' paths, in a fresh temporary directory; without them the program gets ReSim's fixed paths, /tmp/resim/inputs/report_config.json and /tmp/resim/outputs/metrics.binproto (or --inputs-dir, --outputs-dir), and runs hold a lock so two do not collide. The program reads the report through the ReSim API of a running `verdict serve` at --api-url.\n\nExample: verdict report run REPORT -- python -m resim.metrics.default_report_metrics --report-config {config} --output-path {output}\n\nExit status: 0 when the metrics were stored; 1 when the program failed, wrote nothing or wrote an invalid file (nothing is stored); 2 for invalid arguments, an unknown report or a database error."
    )]
    Run {
        /// The report's ID (as `verdict report create` printed it).
        id: String,
        /// The apiURL written in report_config.json: this server's ReSim API.
        #[arg(long, env = "VERDICT_RESIM_API_URL", default_value = "http://127.0.0.1:8080/resim/v1")]
        api_url: String,
        /// The authToken written in report_config.json: the server's read token, when it has one (when the read API is open any bearer works; ReSim's client refuses an empty one).
        #[arg(long, env = "VERDICT_READ_TOKEN", hide_env_values = true, default_value = "open")]
        token: String,
        /// Where report_config.json goes when COMMAND does not say {config} (default /tmp/resim/inputs).
        #[arg(long)]
        inputs_dir: Option<std::path::PathBuf>,
        /// Where the program writes metrics.binproto when COMMAND does not say {output} (default /tmp/resim/outputs).
        #[arg(long)]
        outputs_dir: Option<std::path::PathBuf>,
        /// The program and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
#[command(
    after_help = "Works on the store directly, like `verdict suite`; over HTTP the same is /api/v1/suites/SUITE/webhooks with the suite's manage token. Events: test.state_changed, cluster.created, cluster.spiked, run.failed, aggregate.failed (none given: all). Exit status: 0, or 2 for invalid arguments, an unknown suite or endpoint, or a database error."
)]
pub enum WebhookCommand {
    /// Add an endpoint; prints its id and its signing secret (shown only now).
    Add {
        /// The suite's slug.
        suite: String,
        /// Where events are POSTed (http:// or https://).
        #[arg(long)]
        url: String,
        /// The signing secret (whsec_ and base64 of 24-64 bytes); none: one is made.
        #[arg(long)]
        secret: Option<String>,
        /// An event type to send (repeat for more); none: every event.
        #[arg(long = "event", value_name = "NAME")]
        events: Vec<String>,
        /// standard (signed JSON) or slack (an incoming-webhook URL; text, unsigned).
        #[arg(long, default_value = "standard")]
        format: String,
        /// Only events whose owners include this one.
        #[arg(long)]
        owner: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// The suite's endpoints.
    List {
        suite: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove an endpoint: nothing more is sent to it; its log stays.
    Remove { suite: String, id: String },
    /// Give an endpoint a new signing secret (printed once); for 24 h deliveries carry the old one's signature too.
    Rotate {
        suite: String,
        id: String,
        /// The new secret (whsec_ and base64 of 24-64 bytes); none: one is made.
        #[arg(long)]
        secret: Option<String>,
    },
    /// An endpoint's deliveries, newest first, with each attempt's status and time.
    Deliveries {
        suite: String,
        id: String,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Send a delivery again now, with the same webhook-id.
    Retry { suite: String, id: String, delivery: i64 },
}

#[derive(Args, Debug)]
#[command(
    after_help = "Posts the files to the server's test-plan API (bktec's, under /buildkite) with the suite's upload token and prints node --node-index's share, one per line, in packing order: longest first, each to the least-loaded node, from each file's tests' median durations over the last 30 days (files without history get the median of the known ones). The first node to ask makes the plan; every node asking with the same identifier gets the same plan. The default identifier is derived from the commit (from the CI's variables), --node-total and the sorted files, so it is the same on every node of a build without coordination.

When the server cannot be reached for --timeout-secs (or refuses), it warns and falls back to bktec's split: the files sorted, the i-th to node i mod N, the same on every node. Exit status: 0, or 2 for invalid arguments."
)]
pub struct PlanArgs {
    #[arg(long)]
    pub suite: String,
    /// This node, from 0 (Buildkite's BUILDKITE_PARALLEL_JOB, GitHub's matrix index, ...).
    #[arg(long)]
    pub node_index: usize,
    /// How many nodes share the work.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub node_total: u32,
    /// The plan's identifier; every node of one build must give the same (default: from the commit and the files).
    #[arg(long)]
    pub identifier: Option<String>,
    /// file: the arguments are test files; test: they are tests, as SCOPE/NAME.
    #[arg(long, value_parser = ["file", "test"], default_value = "file")]
    pub by: String,
    /// Print every node's share with its estimated time, as JSON.
    #[arg(long)]
    pub json: bool,
    /// How long to keep asking before the fallback.
    #[arg(long, default_value_t = 60)]
    pub timeout_secs: u64,
    #[arg(long, env = "VERDICT_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Suite upload token (else VERDICT_TOKEN or BUILDKITE_ANALYTICS_TOKEN).
    #[arg(long, env = "VERDICT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The files (or tests); `-` reads them from stdin, one per line.
    #[arg(required = true)]
    pub items: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum TestCommand {
    /// Mute a test: it still runs and is recorded, but its failures do not fail the build under `verdict run`.
    Mute(ControlArgs),
    /// Skip a test: runners that take a skip list (`verdict run --skip-list`) leave it out; its failures are forgiven too.
    Skip(ControlArgs),
    /// Enable a test again: its failures count.
    Enable(ControlArgs),
    /// The suite's muted and skipped tests.
    List {
        #[arg(long)]
        suite: String,
        /// Print the JSON of `GET /v1/quarantine` instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
#[command(
    after_help = "The test is named by its id (from its page or `verdict flaky`), or by --scope and --name, or by --name SCOPE/NAME alone. Works on the store directly, like `verdict suite`; over HTTP the same change is PUT /buildkite/v2/analytics/organizations/ORG/suites/SUITE/tests/ID/mute with the suite's manage token. Exit status: 0, or 2 for invalid arguments, an unknown test or a database error."
)]
pub struct ControlArgs {
    /// The suite's slug (or --suite).
    #[arg(value_name = "SUITE", required_unless_present = "suite")]
    pub suite_arg: Option<String>,
    /// The test's id (or --id, or --name).
    #[arg(value_name = "TEST_ID")]
    pub id_arg: Option<i64>,
    #[arg(long)]
    pub suite: Option<String>,
    #[arg(long, conflicts_with_all = ["id_arg", "name"])]
    pub id: Option<i64>,
    #[arg(long, requires = "name")]
    pub scope: Option<String>,
    /// The test's name; without --scope, SCOPE/NAME.
    #[arg(long, conflicts_with = "id_arg")]
    pub name: Option<String>,
    /// Why, shown on the test's page and in its history.
    #[arg(long)]
    pub reason: Option<String>,
    /// Undo the mute or skip after this long: 30m, 12h, 7d.
    #[arg(long)]
    pub expires: Option<String>,
    /// always: auto-quarantine keeps it muted even when broken; never: auto-quarantine never mutes it; none: no pin.
    #[arg(long, value_parser = ["always", "never", "none"])]
    pub pin: Option<String>,
    /// Who asks, for the history (default: cli:$USER).
    #[arg(long)]
    pub by: Option<String>,
}

#[derive(Args, Debug)]
#[command(
    after_help = "Runs COMMAND with this terminal (SIGINT and SIGTERM are passed on), then reads the JUnit XML (.xml) and Buildkite JSON (.json) files matching --results that were written since it started (older ones are ignored with a warning) and uploads them as `verdict upload` does (an upload failure changes nothing).

Exit status: COMMAND's own, except 0 when COMMAND exited with one of --forgive-exit-codes, its results name at least one failed test (failed, and not passed on a retry), and every failed test is muted or skipped in the suite (GET /v1/quarantine). When Verdict cannot be reached, COMMAND's status stands and a warning names the failed tests. Killed by signal N: 128+N, never forgiven."
)]
pub struct RunArgs {
    /// Result files the command writes, as glob patterns (repeatable), e.g. 'reports/**/*.xml'.
    #[arg(long = "results", value_name = "GLOB", required_unless_present = "skip_list")]
    pub results: Vec<String>,
    /// The command's exit codes that mean "tests failed" (bktec's rule: 1); others are never forgiven.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub forgive_exit_codes: Vec<i32>,
    /// Do not upload the results (still read them, and still ask which tests are muted).
    #[arg(long)]
    pub no_upload: bool,
    /// Before running COMMAND, write the suite's skipped tests to this file (see --skip-format).
    #[arg(long, value_name = "FILE")]
    pub skip_list: Option<PathBuf>,
    /// lines: SCOPE/NAME per line; pytest: node ids (FILE::NAME) per line, for --deselect; names: the bare test
    /// names, for go test -skip and cargo nextest filters.
    #[arg(long, value_parser = ["lines", "pytest", "names"], default_value = "lines")]
    pub skip_format: String,
    #[command(flatten)]
    pub target: Target,
    /// The test command and its arguments, after `--`.
    #[arg(last = true, required_unless_present = "skip_list", value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum FlakyCommand {
    /// Start the suite's flaky states over from its stored history (after changing its settings, or
    /// for runs stored before Verdict tracked states): every upload is analysed again, in the order it
    /// arrived, at its own time. Run it with the servers stopped, or let them take part.
    Recompute {
        #[arg(long)]
        suite: String,
    },
}

#[derive(Args, Debug)]
#[command(after_help = "Each failed result with a failure reason belongs to a cluster: the reason with its numbers, \
hex, UUIDs, timestamps, temporary paths, addresses and line numbers masked (LUCI's reason-v6 and Verdict's masks), or \
the first of the suite's rules that matches it. Columns: failures over the last 1, 3 and 7 days, the distinct TESTS \
and RUNS over the window, and the title. Exit status: 0, or 2 for invalid arguments or a database error.")]
pub struct FailuresArgs {
    #[command(subcommand)]
    pub command: Option<FailuresCommand>,
    #[arg(long)]
    pub suite: Option<String>,
    /// 1d, 7d, 14d, 28d or 90d.
    #[arg(long, default_value = "7d")]
    pub window: String,
    /// Only tests (clusters: failures of tests) owned by one of these (comma-separated; !team excludes).
    #[arg(long)]
    pub owner: Option<String>,
    /// Print the API's JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum FailuresCommand {
    /// The suite's rules: a LIKE pattern or a regex that claims the failures it matches.
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Cluster the failures of the last N days again with today's rules and settings.
    Recluster {
        #[arg(long)]
        suite: String,
        #[arg(long, default_value_t = 7)]
        days: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum RuleCommand {
    /// Add a rule; it claims new failures and those of the last 7 days.
    Add {
        #[arg(long)]
        suite: String,
        #[arg(long)]
        name: String,
        /// A LIKE pattern matching the whole reason (% any text, _ one character, \\ escapes).
        #[arg(long, conflicts_with = "regex", required_unless_present = "regex")]
        like: Option<String>,
        /// A regular expression found anywhere in the reason.
        #[arg(long)]
        regex: Option<String>,
        /// A link to the bug this cause is tracked in.
        #[arg(long)]
        bug: Option<String>,
        /// Lower first; the first rule that matches wins.
        #[arg(long, default_value_t = 0)]
        priority: i64,
    },
    List {
        #[arg(long)]
        suite: String,
    },
    Remove {
        #[arg(long)]
        suite: String,
        id: String,
    },
}

#[derive(Args, Debug)]
#[command(after_help = "Reads the states that `verdict serve` keeps as uploads arrive (each run is analysed once its \
newest upload is settle_secs old). Columns: STATE and the RULE that set it; RATE, the flake rate's posterior mean with \
its 95% credible interval; P>t, the chance the rate is above the suite's threshold (2%); RUNS and FLAKY, the runs seen \
and those that flaked; NEEDED, for a flaky test the clean runs still needed to call it fixed, otherwise the runs the \
sequential test expects before it decides; LOST, CI seconds lost in the window; then the test. Worst first (most \
time lost). Exit status: 0, or 2 for invalid arguments or a database error.")]
pub struct FlakyArgs {
    #[command(subcommand)]
    pub command: Option<FlakyCommand>,
    #[arg(long)]
    pub suite: Option<String>,
    /// A branch's track (default: the suite's default branch), or * for every branch pooled.
    #[arg(long)]
    pub branch: Option<String>,
    /// The window counts and impact cover: 1d, 7d, 14d, 28d or 90d.
    #[arg(long, default_value = "7d")]
    pub window: String,
    /// Only tests in these states (comma-separated: new, healthy, flaky, broken).
    #[arg(long)]
    pub state: Option<String>,
    /// Only tests (clusters: failures of tests) owned by one of these (comma-separated; !team excludes).
    #[arg(long)]
    pub owner: Option<String>,
    /// Print the API's JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "disruptions and alerts (OpenShift job-run-aggregator's analyze-historical-data, without its \
BigQuery and Sippy calls): --current and --new are JSON arrays of percentile rows (P95, P99, P75, P50 as strings of \
seconds). Rows are matched by BackendName_FromRelease_Release_Architecture_Platform_Network_Topology (alerts: \
AlertName_AlertNamespace_AlertLevel_FromRelease_...); only new rows of --previous-release and --target-release count. \
A row increased when its P99 grew by more than --leeway percent, and decreased when its P99 shrank at all.\n\n\
tests: Verdict's own rows, from the store: each test's duration percentiles in --new-window compared with \
--current-window by the same rule (windows as in `verdict compare`: 7d, 37d..7d, or a branch).\n\n\
Writes the new rows sorted by key to --output-file, and appends a summary to pr_message.md and, when anything \
increased or decreased, lines to require_review (both in --output-dir). The PR table lists increased rows with at \
least --min-job-runs runs.\n\n\
Exit status: 0, also when increases were found (require_review tells); 1 when an input is missing, empty or invalid.")]
pub struct AnalyzeArgs {
    #[arg(long, value_parser = ["disruptions", "alerts", "tests"])]
    pub data_type: String,
    /// The allowances in use now (disruptions, alerts).
    #[arg(long, required_unless_present = "suite", value_name = "FILE")]
    pub current: Option<PathBuf>,
    /// The freshly computed allowances (disruptions, alerts).
    #[arg(long, required_unless_present = "suite", value_name = "FILE")]
    pub new: Option<PathBuf>,
    /// Percent a P99 may grow before it counts as an increase.
    #[arg(long, default_value_t = 0.0)]
    pub leeway: f64,
    /// The release the allowances are for (e.g. 4.16); new rows of other releases are dropped.
    #[arg(long, required_unless_present = "suite")]
    pub target_release: Option<String>,
    /// The release before it (e.g. 4.15), compared in its own pass.
    #[arg(long, required_unless_present = "suite")]
    pub previous_release: Option<String>,
    /// Where the rows go (default results_<data-type>.json), relative to --output-dir.
    #[arg(long)]
    pub output_file: Option<PathBuf>,
    /// Directory for the output file, pr_message.md and require_review.
    #[arg(long, default_value = ".")]
    pub output_dir: PathBuf,
    /// Rows with fewer runs are left out of the PR table (they still count).
    #[arg(long, default_value_t = 100)]
    pub min_job_runs: i64,
    /// tests: the suite whose test durations are compared.
    #[arg(long, conflicts_with_all = ["current", "new", "target_release", "previous_release"])]
    pub suite: Option<String>,
    /// tests: the window of the allowances in use now.
    #[arg(long, requires = "suite", default_value = "37d..7d")]
    pub current_window: String,
    /// tests: the window of the fresh allowances.
    #[arg(long, requires = "suite", default_value = "7d")]
    pub new_window: String,
}

#[derive(Args, Debug)]
#[command(after_help = "Each test (nested suite names joined with '|||', and its name) is judged across the runs by OpenShift \
job-run-aggregator's rule: at least --min-attempts runs, at least one pass, and as many passes as a one-sided Fisher exact \
test against its history requires (see `verdict stats required-passes`). A run that both failed and passed a test (a retry) \
counts as a pass. A test without history is taken as 70% reliable.\n\n\
With --suite, each run metric of the judged runs (`verdict upload --metric`) is checked against the same metric in the \
job's history (larger is worse), as tests of the suite RunMetrics: by default 'P70 should not be worse' (at or under \
the historical P70 in enough runs, retried with 3 of grace), 'P85 ...' (7 of grace) and 'mean should be less than \
historical plus 5 standard deviations' (at least 1). A check without history, or with too few runs to judge, is skipped. \
--metric-config changes the rules per metric.\n\n\
Writes the aggregated JUnit (every test with its runs as YAML in <system-out>, a <failure> with the reason when it failed), \
optionally a JSON summary, and prints the failed tests.\n\n\
Exit status: 0 when no blocking test failed; 1 when one did (tests with lifecycle=\"informing\" never block); \
2 when an input cannot be read.")]
pub struct AggregateArgs {
    /// One job run each: a JUnit file, or a directory of them (searched recursively). The run's id is the
    /// file name without .xml, or the directory name.
    #[arg(long = "junit", value_name = "RUN", num_args = 1.., required_unless_present = "suite", conflicts_with_all = ["suite", "payload"])]
    pub runs: Vec<PathBuf>,
    /// Judge from the store instead: the runs of --job for --payload in this suite, against the job's
    /// last 200 runs within 21 days.
    #[arg(long, requires_all = ["job", "payload"])]
    pub suite: Option<String>,
    /// With --suite: the payload the runs tested (the commit, unless the runs name one).
    #[arg(long)]
    pub payload: Option<String>,
    /// The tests' history: a JSON array of {"suite": SUITE_PATH, "name": TEST_NAME, "working_percentage": FLOAT}.
    #[arg(long, conflicts_with = "suite")]
    pub history: Option<PathBuf>,
    /// Fewest runs a test must have passed or failed in to be judged on its results.
    #[arg(long, default_value_t = verdict_core::decision::MINIMUM_ATTEMPTS)]
    pub min_attempts: u32,
    /// The job's name (required with --suite; some upstream always-pass rules apply to one job only).
    #[arg(long, default_value = "")]
    pub job: String,
    /// Where to write the aggregated JUnit.
    #[arg(long, default_value = "junit-aggregated.xml")]
    pub output: PathBuf,
    /// Also write a JSON summary: one object per test.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// With --suite: the run-metric checks, as JSON {"default": RULES, "metrics": {"NAME": RULES}} where RULES is
    /// {"percentiles": [{"percentile": 70, "grace": 3}], "mean_sd": 5, "floor": 1}; empty RULES switch a metric's checks off.
    #[arg(long, requires = "suite", value_name = "FILE")]
    pub metric_config: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(after_help = "BASIS and SAMPLE are a window of days ago (7d: the last 7 days; 37d..7d: from 37 to 7 days ago), \
a branch name (branch:NAME for a branch named like a window), or both as BRANCH:WINDOW (main:37d..7d). Each run counts once per test: passed, failed, or \
flaked (both).\n\n\
Each test gets Sippy's component-readiness verdict: a one-sided Fisher exact test of its failures in the sample against \
the basis (95% confidence, a pity of 5 points of pass rate, at least 3 sample failures), ExtremeRegression when the pass \
rate dropped more than 15 points; MissingBasis or MissingSample when one side never ran it. A test new in the sample must \
pass 95% of at least 6 runs.\n\n\
Exit status: 0 when no test regressed significantly; 1 when one did; 2 for invalid arguments or a database error.")]
pub struct CompareArgs {
    #[arg(long)]
    pub suite: String,
    /// What the sample is compared with.
    #[arg(long)]
    pub basis: String,
    /// What is judged.
    #[arg(long)]
    pub sample: String,
    /// Also write the verdicts as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Also list tests whose verdict is not significant.
    #[arg(long)]
    pub all: bool,
    /// Confidence of the Fisher test, percent (above 0, below 100).
    #[arg(long, default_value_t = 95.0)]
    pub confidence: f64,
    /// Points of pass rate a test may drop before it is tested at all.
    #[arg(long, default_value_t = 5.0)]
    pub pity: f64,
    /// Fewer failures in the sample are never a regression.
    #[arg(long, default_value_t = 3)]
    pub min_fail: u64,
}

#[derive(Subcommand, Debug)]
pub enum StatsCommand {
    /// How many of N repeated runs must pass a test with a given history
    /// (OpenShift job-run-aggregator's rule: a one-sided Fisher exact test
    /// against 250 historical runs at 5% significance, minus one pass, and
    /// never more than N - 2 passes).
    #[command(after_help = "Prints the strict and the pity-capped required number of passes, then the p-value of \
each pass count: the chance of seeing that few passes if the test were as reliable as its history. \
Exit status: 0, or 2 for invalid arguments.")]
    RequiredPasses {
        /// Number of runs of the job for one payload (attempts), 1 or more.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
        attempts: u32,
        /// The test's historical working percentage, 0 to 100 (truncated to an integer, as upstream does).
        #[arg(long)]
        working_percentage: f64,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on. Keep it on loopback unless a proxy or firewall is in front.
    #[arg(long, env = "VERDICT_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Base URL users reach the server at, used in run links (default: http://LISTEN).
    #[arg(long, env = "VERDICT_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Require `Authorization: Bearer TOKEN` on the read API.
    #[arg(long, env = "VERDICT_READ_TOKEN", hide_env_values = true)]
    pub read_token: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "VERDICT_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Largest request body after gunzip, in bytes.
    #[arg(long, env = "VERDICT_MAX_DECOMPRESSED_BYTES", default_value_t = 128 * 1024 * 1024)]
    pub max_decompressed_bytes: usize,
    /// Seconds a client may take to send an upload's body before it is answered 408.
    #[arg(long, env = "VERDICT_BODY_TIMEOUT_SECS", default_value_t = 120)]
    pub body_timeout_secs: u64,
    /// Connections served at once; more wait until one closes. Lowered at start-up to what the open-files
    /// limit allows (the limit is first raised to its hard maximum).
    #[arg(long, env = "VERDICT_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Memory, in bytes, that request bodies being read, inflated and parsed may hold at once; past it,
    /// uploads wait their turn (and are answered 503 after the body timeout).
    #[arg(long, env = "VERDICT_MAX_PARSE_MEMORY", default_value_t = 1024 * 1024 * 1024)]
    pub max_parse_memory: usize,
    /// Also serve pytest-monitor at /api/v1 (`pytest --remote-server http://HOST:PORT/api/v1`) for this suite,
    /// without authentication. Without it, pytest-monitor is served only at /t/UPLOAD_TOKEN/api/v1.
    #[arg(long, env = "VERDICT_PYTEST_MONITOR_SUITE")]
    pub pytest_monitor_suite: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "VERDICT_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Delete executions (with their outputs) and pytest-monitor samples older than this many days, hourly; rollups, runs, states, clusters and reports stay. Default: keep everything.
    #[arg(long, env = "VERDICT_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: Option<u32>,
}

#[derive(Subcommand, Debug)]
pub enum SuiteCommand {
    /// Create a suite and print its upload token (shown once: only its hash is kept).
    Create {
        /// Lowercase letters, digits, '-' and '_'.
        slug: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "main")]
        default_branch: String,
    },
    /// List suites.
    List,
    /// Set a suite's link templates, for links from pages to the code host
    /// (an empty value clears one).
    Update {
        slug: String,
        /// e.g. 'https://github.com/o/r/commit/{commit}'
        #[arg(long)]
        commit_url: Option<String>,
        /// e.g. 'https://github.com/o/r/blob/{commit}/{file}#L{line}'
        #[arg(long)]
        file_url: Option<String>,
    },
    /// Manage upload tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Keep FILE as the suite's owners file (as `verdict owners upload`).
    Owners { slug: String, file: std::path::PathBuf },
}

#[derive(Subcommand, Debug)]
pub enum OwnersCommand {
    /// Keep FILE as the suite's owners file (it replaces the last one); lines that cannot be used are listed.
    Upload {
        #[arg(long)]
        suite: String,
        file: std::path::PathBuf,
    },
    /// Print the suite's owners file.
    Show {
        #[arg(long)]
        suite: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the owners of each PATH (as a test in that file would have them).
    Of {
        #[arg(long)]
        suite: String,
        #[arg(required = true)]
        paths: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Replace a suite's upload token; the old one stops working at once.
    Rotate { slug: String },
    /// Create or replace the suite's manage token, which mutes, skips and enables its tests through the API
    /// (upload tokens cannot); the old one stops working at once.
    Manage { slug: String },
}

/// Where results go and the run they belong to (`verdict upload`, `verdict run`).
#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Server URL.
    #[arg(long, env = "VERDICT_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Suite upload token (else VERDICT_TOKEN or BUILDKITE_ANALYTICS_TOKEN).
    #[arg(long, alias = "suite-token", env = "VERDICT_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Run key: uploads with the same key merge into one run (default: from the CI's variables).
    #[arg(long)]
    pub run_key: Option<String>,
    #[arg(long)]
    pub branch: Option<String>,
    #[arg(long)]
    pub commit: Option<String>,
    /// After the upload, pipe the run's summary to `buildkite-agent annotate` (when it is on PATH).
    /// ($GITHUB_STEP_SUMMARY, when set, gets it always.)
    #[arg(long)]
    pub annotate: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "Asks the server (GET /v1/summary) with the suite's token. The base of a run on the default branch is \
the run before it there; of a run on another branch, the latest run on the default branch before it. Exit status: 0, 1 when \
the server cannot be reached or refuses, 2 for invalid arguments.")]
pub struct SummaryArgs {
    /// The run's id (as `verdict upload` prints in the run's URL); or --run-key.
    #[arg(long)]
    pub run: Option<String>,
    /// markdown, github-summary, buildkite-annotation or json.
    #[arg(long, default_value = "markdown", value_parser = ["markdown", "github-summary", "buildkite-annotation", "json"])]
    pub format: String,
    #[command(flatten)]
    pub target: Target,
}

#[derive(Args, Debug)]
#[command(after_help = "By default `verdict upload` exits 0 even when the upload fails, so that it never breaks a build; \
it says why on stderr. Use --strict to exit 1 instead.\n\n\
The run's CI context (key, branch, commit, URL) is read from Buildkite, GitHub Actions, CircleCI, GitLab CI or Jenkins \
variables; elsewhere a fresh run key is generated.")]
pub struct UploadArgs {
    /// Result files or glob patterns (e.g. 'target/**/junit*.xml').
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// junit or json; by default from each file's extension (.xml → junit, .json → json).
    #[arg(long, value_parser = ["junit", "json"])]
    pub format: Option<String>,
    #[command(flatten)]
    pub target: Target,
    /// Upload-level tag KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Exit 1 when the upload fails.
    #[arg(long)]
    pub strict: bool,
    /// A named number for the run, NAME=VALUE (repeatable), such as seconds of downtime; `verdict aggregate` checks it
    /// against the job's history. Sent after the results, with the same token.
    #[arg(long = "metric", value_name = "NAME=VALUE")]
    pub metrics: Vec<String>,
}
