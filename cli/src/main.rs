//! THROWAWAY test harness for the rules branch: only `mailsift rules ...` (the lead's main.rs
//! replaces this on merge).

mod rules_cmd;

use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "mailsift")]
struct Cli {
    /// Extra rule files layered on the built-in set.
    #[arg(long = "rules-file", global = true)]
    rule_files: Vec<PathBuf>,
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, clap::Subcommand)]
enum Top {
    /// Inspect and check the rules.
    #[command(subcommand)]
    Rules(rules_cmd::RulesCommand),
}

fn main() {
    let cli = Cli::parse();
    let mut rules = mailsift::rules::RuleSet::default_rules();
    if !cli.rule_files.is_empty() {
        match rules.with_files(&cli.rule_files) {
            Ok((r, _)) => rules = r,
            Err(e) => {
                eprintln!("mailsift: {e}");
                std::process::exit(2);
            }
        }
    }
    let Top::Rules(cmd) = cli.command;
    let code = rules_cmd::run(&cmd, &rules).unwrap_or_else(|e| {
        eprintln!("mailsift: {e:#}");
        2
    });
    std::process::exit(code);
}
