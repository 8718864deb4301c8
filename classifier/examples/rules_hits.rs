//! Prints, for each message file given, every rule of the default set that hits (sub-rules
//! included). Handy when writing fixtures: `cargo run --example rules_hits -- FILE...`.
use mailsift::rules::{EvalContext, RuleSet};
use mailsift::{Limits, MessageView};

fn main() {
    let rules = RuleSet::default_rules();
    let ctx = EvalContext::default();
    for f in std::env::args().skip(1) {
        let raw = std::fs::read(&f).unwrap_or_default();
        let view = MessageView::parse(&raw, &Limits::default());
        println!("{f}: {}", rules.evaluate_all(&view, &ctx).join(" "));
    }
}
