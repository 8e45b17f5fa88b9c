//! `verdict test mute|skip|enable|list`: a test's control, on the store.

use crate::cli::{ControlArgs, StoreArgs, TestCommand};
use std::process::ExitCode;
use verdict_analysis::quarantine::{self, ControlAsk};
use verdict_core::quarantine::{ControlState, Pin, parse_duration_ms};
use verdict_store::controls::PinChange;
use verdict_store::{Store, Suite};

pub async fn run(store: StoreArgs, cmd: TestCommand) -> ExitCode {
    match go(store, cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verdict test: {e}");
            ExitCode::from(2)
        }
    }
}

async fn go(store: StoreArgs, cmd: TestCommand) -> Result<(), String> {
    let (state, args) = match cmd {
        TestCommand::Mute(a) => (ControlState::Muted, a),
        TestCommand::Skip(a) => (ControlState::Skipped, a),
        TestCommand::Enable(a) => (ControlState::Enabled, a),
        TestCommand::List { suite, json } => return list(&store, &suite, json).await,
    };
    // With --suite, a lone positional is the test id: `verdict test mute --suite web 42`.
    let (slug, id_given) = match (args.suite.clone(), args.suite_arg.clone()) {
        (Some(s), Some(pos)) if args.id_arg.is_none() => {
            (s, Some(pos.parse::<i64>().map_err(|_| format!("{pos:?} is not a test id (the suite is given by --suite)"))?))
        }
        (Some(_), Some(_)) => return Err("the suite is given twice: as --suite and as an argument".into()),
        (Some(s), None) | (None, Some(s)) => (s, args.id_arg),
        (None, None) => return Err("name the suite: verdict test mute SUITE TEST_ID".into()),
    };
    let (store, suite) = crate::failures::open(&store, &slug).await?;
    let test_id = match args.id.or(id_given) {
        Some(id) => id,
        None => test_id(store.as_ref(), &suite, &args).await?,
    };
    let now = crate::now_ms();
    let ask = ControlAsk {
        state,
        reason: args.reason,
        expires_at: args.expires.as_deref().map(parse_duration_ms).transpose().map_err(|e| format!("--expires: {e}"))?.map(|d| now + d),
        pin: match args.pin.as_deref() {
            None => PinChange::Keep,
            Some("none") => PinChange::Set(None),
            Some(p) => PinChange::Set(Pin::parse(p)),
        },
        actor: args.by.unwrap_or_else(|| format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))),
    };
    ask.check(now)?;
    let done = quarantine::set_control(store.as_ref(), &suite, test_id, ask, now).await.map_err(|e| e.to_string())?;
    eprintln!("{} is now {} in {}.", done.test.name, done.control.state.name(), suite.slug);
    println!("{}\t{}\t{} › {}", done.control.state.name(), done.test.id, done.test.scope, done.test.name);
    Ok(())
}

async fn test_id(store: &dyn Store, suite: &Suite, args: &ControlArgs) -> Result<i64, String> {
    let name = args.name.as_deref().ok_or("name the test: its id, or --name SCOPE/NAME, or --scope S --name N")?;
    let found = store.controls().tests_named(suite.id, args.scope.as_deref(), name).await.map_err(|e| e.to_string())?;
    match found.as_slice() {
        [one] => Ok(one.id),
        [] => Err(format!("no test named {name:?} in {}", suite.slug)),
        many => Err(format!(
            "{} tests match {name:?}; give the id: {}",
            many.len(),
            many.iter().map(|t| format!("{} ({} › {})", t.id, t.scope, t.name)).collect::<Vec<_>>().join(", ")
        )),
    }
}

async fn list(store: &StoreArgs, slug: &str, json: bool) -> Result<(), String> {
    let (store, suite) = crate::failures::open(store, slug).await?;
    let list = quarantine::quarantine_list(store.as_ref(), &suite).await.map_err(|e| e.to_string())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?);
        return Ok(());
    }
    println!("{:<8} {:>8}  {:<40} WHY", "STATE", "ID", "TEST");
    for (state, tests) in [("muted", &list.muted), ("skipped", &list.skipped)] {
        for t in tests {
            println!("{state:<8} {:>8}  {:<40} {}", t.id, format!("{} › {}", t.scope, t.name), t.reason.as_deref().unwrap_or(""));
        }
    }
    Ok(())
}
