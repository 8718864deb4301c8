//! Prints every lint issue for the given rule files (no default rules), plus pattern compile errors.
use std::path::PathBuf;
fn main() {
    let files: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let (rules, issues) = mailsift::rules::RuleSet::from_files(&files).expect("readable");
    for i in &issues {
        println!("{i}");
    }
    for i in rules.lint_patterns() {
        println!("{i}");
    }
}
