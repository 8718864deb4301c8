//! TEMPORARY stand-in for the rules engine (replaced by the rules branch on merge).
#![allow(missing_docs)]
use crate::message::MessageView;

#[derive(Debug, Clone, Default)]
pub struct RuleSet;
#[derive(Debug, Clone, Default)]
pub struct EvalContext {
    pub bayes_probability: Option<f64>,
    pub now: i64,
}
#[derive(Debug, Clone, PartialEq)]
pub struct RuleHit {
    pub name: String,
    pub score: f64,
    pub description: String,
}
impl RuleSet {
    pub fn with_files(
        self,
        _paths: &[std::path::PathBuf],
    ) -> Result<(RuleSet, Vec<String>), String> {
        Ok((self, Vec::new()))
    }
    pub fn set_scores(
        &mut self,
        overrides: &std::collections::BTreeMap<String, f64>,
    ) -> Result<(), String> {
        match overrides.keys().next() {
            Some(k) => Err(format!("unknown rule {k}")),
            None => Ok(()),
        }
    }
    pub fn default_rules() -> RuleSet {
        RuleSet
    }
    pub fn uses_bayes(&self) -> bool {
        false
    }
    pub fn evaluate(&self, view: &MessageView, _ctx: &EvalContext) -> Vec<RuleHit> {
        if view
            .raw
            .contains("XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X")
        {
            vec![RuleHit {
                name: "GTUBE".into(),
                score: 1000.0,
                description: "GTUBE".into(),
            }]
        } else {
            Vec::new()
        }
    }
}
