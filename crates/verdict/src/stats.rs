use crate::cli::StatsCommand;
use std::process::ExitCode;
use verdict_core::aggregation::{ALPHA, threshold_table};

pub fn run(cmd: StatsCommand) -> ExitCode {
    match cmd {
        StatsCommand::RequiredPasses { attempts, working_percentage } => {
            if !(0.0..=100.0).contains(&working_percentage) {
                eprintln!("verdict: --working-percentage must be between 0 and 100, got {working_percentage}");
                return ExitCode::from(2);
            }
            let t = match threshold_table(attempts, working_percentage.trunc() as u32) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("verdict: --attempts: {e}");
                    return ExitCode::from(2);
                }
            };
            println!("attempts: {attempts}  working percentage: {}%", t.working_percentage);
            println!("strict required passes: {}", t.strict_required);
            println!("required passes (at most attempts - 2): {}", t.required);
            println!();
            println!("{:>6}  {:>10}  verdict", "passes", "p-value");
            for r in &t.rows {
                let verdict = if r.passes_aggregation { "pass" } else { "fail" };
                let mark = if r.significantly_worse { "  (significantly worse than history)" } else { "" };
                println!("{:>6}  {:>10.6}  {verdict}{mark}", r.passes, r.p_value);
            }
            println!();
            println!("The rule requires one pass fewer than the first count that is not significantly worse");
            println!("(p > {ALPHA}), so a count one pass below that boundary still passes, as upstream decides.");
            ExitCode::SUCCESS
        }
    }
}
