//! `db check`: the storage's own integrity check, then proof that every model's counts are
//! exactly what its ledger says was learned. Written once over [`Backend::dump`].

use crate::error::Result;
use crate::ledger::Class;

use super::CheckReport;
use super::backend::{Backend, ModelDump};

/// Per class: message count, token-occurrence count, hash checksum.
#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
struct Sums {
    messages: u64,
    occurrences: u64,
    checksum: u64,
}

/// Checks every model of `backend`.
pub(super) fn check(backend: &dyn Backend) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let problems = backend.integrity()?;
    if !problems.is_empty() {
        report
            .problems
            .extend(problems.into_iter().map(|r| format!("integrity: {r}")));
        return Ok(report);
    }
    let mut users: Vec<Option<String>> = vec![None];
    users.extend(backend.users()?.into_iter().map(Some));
    for user in users {
        let dump = backend.dump(user.as_deref())?;
        check_model(&dump, &mut report);
    }
    Ok(report)
}

/// Compares one model's totals and token counts with its ledger.
pub(super) fn check_model(dump: &ModelDump, report: &mut CheckReport) {
    let label = match dump.user.as_deref() {
        None => "site-wide model".to_owned(),
        Some(n) => format!("user {n:?}"),
    };
    let slot = |class: Class| usize::from(class == Class::Ham);
    let mut from_ledger = [Sums::default(); 2];
    for (_, row) in &dump.ledger {
        let e = &mut from_ledger[slot(row.class)];
        e.messages += 1;
        e.occurrences += row.ntokens;
        e.checksum = e.checksum.wrapping_add(row.tokensum);
        report.ledger_entries += 1;
    }
    let mut from_tokens = [Sums::default(); 2];
    for &(hash, c) in &dump.tokens {
        report.token_rows += 1;
        if c.spam == 0 && c.ham == 0 {
            report.problems.push(format!(
                "{label}: token {hash:016x} has zero counts but was not removed"
            ));
        }
        for (class, n) in [(Class::Spam, c.spam), (Class::Ham, c.ham)] {
            let e = &mut from_tokens[slot(class)];
            e.occurrences += u64::from(n);
            e.checksum = e.checksum.wrapping_add(hash.wrapping_mul(u64::from(n)));
        }
    }
    for (class, n, pruned) in [
        (Class::Spam, dump.totals.spam, dump.pruned.spam),
        (Class::Ham, dump.totals.ham, dump.pruned.ham),
    ] {
        let ledger = from_ledger[slot(class)];
        let mut tokens = from_tokens[slot(class)];
        // Counts `db prune` removed still count: they were learned.
        if pruned.occurrences < 0 {
            report.problems.push(format!(
                "{label}: forgetting took {} more {} token counts than were pruned",
                -pruned.occurrences,
                class.as_str()
            ));
        }
        tokens.occurrences = tokens.occurrences.wrapping_add(pruned.occurrences as u64);
        tokens.checksum = tokens.checksum.wrapping_add(pruned.checksum);
        if n != ledger.messages {
            report.problems.push(format!(
                "{label}: {} {} messages counted, ledger has {}",
                n,
                class.as_str(),
                ledger.messages
            ));
        }
        if tokens.occurrences != ledger.occurrences || tokens.checksum != ledger.checksum {
            report.problems.push(format!(
                "{label}: {} token counts ({} occurrences) do not match the ledger ({} occurrences)",
                class.as_str(),
                tokens.occurrences,
                ledger.occurrences
            ));
        }
    }
}
