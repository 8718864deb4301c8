//! TEMPORARY: replaced by the rules branch.
use anyhow::Result;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List rules.
    List,
}

pub fn run(_cmd: &RulesCommand, _rules: &mailsift::rules::RuleSet) -> Result<i32> {
    Ok(0)
}
