use crate::cli::{StoreArgs, SuiteCommand, TokenCommand};
use crate::fail;
use std::process::ExitCode;
use verdict_core::SuiteSlug;
use verdict_store::{NewSuite, token};

/// Tokens go to stdout alone, so that `TOKEN=$(verdict suite create web)` works;
/// everything meant for people goes to stderr.
pub async fn run(store_args: StoreArgs, cmd: SuiteCommand) -> ExitCode {
    let store = match verdict_store::open(store_args.database_url.as_deref(), &store_args.data_dir).await {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot open the database: {e}")),
    };
    match cmd {
        SuiteCommand::Create { slug, name, default_branch } => {
            let slug = match SuiteSlug::parse(&slug) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            let secret = token::generate();
            let new = NewSuite { name: name.unwrap_or_else(|| slug.to_string()), slug, default_branch, token_hash: token::hash(&secret) };
            match store.create_suite(new).await {
                Ok(s) => {
                    eprintln!("Created suite {} ({}). Its upload token, shown only this once:", s.slug, s.name);
                    println!("{secret}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        SuiteCommand::List => match store.suites().await {
            Ok(suites) => {
                println!("{:<24} {:<32} {:<16} CREATED", "SLUG", "NAME", "DEFAULT BRANCH");
                for s in suites {
                    println!("{:<24} {:<32} {:<16} {}", s.slug, s.name, s.default_branch, s.created_at.format("%Y-%m-%d %H:%M UTC"));
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        SuiteCommand::Update { slug, commit_url, file_url } => {
            use verdict_core::links::check_template;
            for (flag, value, required) in [("--commit-url", &commit_url, "{commit}"), ("--file-url", &file_url, "{file}")] {
                if let Some(Err(e)) = value.as_deref().map(|v| check_template(v, required)) {
                    return fail(format!("{flag}: {e}"));
                }
            }
            if commit_url.is_none() && file_url.is_none() {
                return fail("give --commit-url, --file-url or both");
            }
            match store.dashboard().set_suite_links(&slug, &verdict_store::SuiteLinks { commit_url, file_url }).await {
                Ok(()) => {
                    eprintln!("Updated the link templates of {slug}.");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        SuiteCommand::Token(TokenCommand::Manage { slug }) => {
            let secret = token::generate();
            match store.controls().set_manage_token_hash(&slug, &token::hash(&secret)).await {
                Ok(()) => {
                    eprintln!("New manage token for {slug} (the old one, if any, no longer works), shown only this once:");
                    println!("{secret}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        SuiteCommand::Token(TokenCommand::Rotate { slug }) => {
            let secret = token::generate();
            match store.set_token_hash(&slug, &token::hash(&secret)).await {
                Ok(()) => {
                    eprintln!("New upload token for {slug} (the old one no longer works), shown only this once:");
                    println!("{secret}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        SuiteCommand::Owners { slug, file } => match crate::owners::upload_into(store.as_ref(), &slug, &file).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e),
        },
    }
}
