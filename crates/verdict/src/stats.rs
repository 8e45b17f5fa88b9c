use crate::cli::StatsCommand;
use std::process::ExitCode;
use verdict_core::aggregation::{ALPHA, p_value, required, strict_required};

pub fn run(cmd: StatsCommand) -> ExitCode {
    match cmd {
        StatsCommand::RequiredPasses { attempts, working_percentage } => {
            if !(0.0..=100.0).contains(&working_percentage) {
                eprintln!("verdict: --working-percentage must be between 0 and 100, got {working_percentage}");
                return ExitCode::from(2);
            }
            let wp = working_percentage.trunc() as u32;
            let (strict, capped) = (strict_required(attempts, wp), required(attempts, wp));
            println!("attempts: {attempts}  working percentage: {wp}%");
            println!("strict required passes: {strict}");
            println!("required passes (at most attempts - 2): {capped}");
            println!();
            println!("{:>6}  {:>10}  verdict", "passes", "p-value");
            for passes in 0..=attempts {
                let p = p_value(attempts, wp, passes);
                let verdict = if passes >= capped { "pass" } else { "fail" };
                let mark = if p <= ALPHA { "  (significantly worse than history)" } else { "" };
                println!("{passes:>6}  {p:>10.6}  {verdict}{mark}");
            }
            println!();
            println!("The rule requires one pass fewer than the first count that is not significantly worse");
            println!("(p > {ALPHA}), so a count one pass below that boundary still passes, as upstream decides.");
            ExitCode::SUCCESS
        }
    }
}
