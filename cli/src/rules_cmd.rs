//! `mailsift rules ...`: list, lint, show and measure the heuristic rules.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use mailsift::rules::{EvalContext, LintIssue, Phase, RuleCosts, RuleKind, RuleSet, Severity};
use mailsift::{Limits, MessageView};
use rayon::prelude::*;

/// Inspect and check the rules.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules: name, score, description.
    #[command(after_long_help = "Examples:\n  mailsift rules list\n  mailsift rules list --all")]
    List {
        /// Also list `__` sub-rules and zero-scored rules.
        #[arg(long)]
        all: bool,
    },
    /// Check rule files: report every construct mailsift does not support, with file and line.
    ///
    /// Without FILES, checks the rules in use (the built-in set plus configured rule files).
    /// With FILES, checks just those files (SpamAssassin's own, for example), each as a whole
    /// with its includes. Exit code 0 when there are no errors, 1 when some rule or line is
    /// skipped that SpamAssassin without network tests would run (a rule skipped because it
    /// needs the network is reported, counted apart and does not fail the check), 2 when a file
    /// cannot be read.
    #[command(after_long_help = "Examples:\n  mailsift rules lint\n  \
        mailsift rules lint /usr/share/spamassassin/*.cf\n  \
        mailsift rules lint --min-severity info local.cf")]
    Lint {
        /// Rule files to check instead of the rules in use.
        files: Vec<PathBuf>,
        /// Lowest severity printed (all are counted in the summary).
        #[arg(long, value_enum, default_value_t = MinSeverity::Warning)]
        min_severity: MinSeverity,
        /// Print only the summary.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Show one rule: its definition, score, description, origin and, for evals, the test's
    /// documentation.
    #[command(after_long_help = "Example:\n  mailsift rules show HTML_FONT_HUGE")]
    Show {
        /// The rule name.
        name: String,
    },
    /// Per-rule hit counts on labelled mail, like SpamAssassin's hit-frequencies, and the rates
    /// at which the rules alone (no Bayes) flag spam and ham.
    ///
    /// The index has one `spam PATH` or `ham PATH` line per message, paths relative to the
    /// index file.
    #[command(
        after_long_help = "Example:\n  mailsift rules stats --index corpora/spamassassin/index-tune"
    )]
    Stats {
        /// The labelled index.
        #[arg(long)]
        index: PathBuf,
        /// Score at or above which a message counts as flagged.
        #[arg(long, default_value_t = 5.0)]
        required_score: f64,
        /// Also show `__` sub-rules and rules that never hit.
        #[arg(long)]
        all: bool,
        /// List the flagged ham and missed spam with the rules they hit.
        #[arg(long)]
        list_errors: bool,
    },
    /// Where the rules' time goes: each rule's CPU time per message on real mail, costliest
    /// first, and the work the rules share (rendering the texts and the literal prefilters,
    /// the header texts, the uri template rules, the metas).
    ///
    /// Measured as `mailsift serve` runs the rules: prepared once, and the mail evaluated once
    /// untimed first (a server's lazy DFAs build their states as mail arrives), then once
    /// more, one message at a time, timed. A rule is timed on the messages where it is matched
    /// at all (the literal prefilter skips the others): `runs` says on how many. A rule that is
    /// the first to need something other rules share (SpamAssassin's rendered body lines, the
    /// trust path an eval reads, the dates) is charged for building it; the header texts the
    /// header rules read are shared work of their own. With FILES, only those rule files are
    /// loaded (not the built-in set).
    #[command(
        after_long_help = "Examples:\n  mailsift rules cost --mail ~/Maildir/cur\n  \
        mailsift rules cost --mail spam.mbox --top 50 /etc/spamassassin/local.cf"
    )]
    Cost {
        /// Mail to measure on: a file, a directory, a Maildir or an mbox file (repeat for more).
        #[arg(long, required = true)]
        mail: Vec<PathBuf>,
        /// Rule files to load instead of the rules in use.
        files: Vec<PathBuf>,
        /// How many of the costliest rules to list.
        #[arg(long, default_value_t = 30)]
        top: usize,
    },
    /// Per-message rule hits, for comparing with SpamAssassin (`corpora/sa-diff`).
    ///
    /// Prints a `# loaded` line naming every reported rule that is loaded, then one line per
    /// message of the index: `LABEL<TAB>PATH<TAB>SCORE<TAB>RULE,RULE,...`, rules alone (no
    /// Bayes). With FILES, only those rule files are loaded (not the built-in set).
    #[command(
        hide = true,
        after_long_help = "Example:\n  mailsift rules hits --index idx /usr/share/spamassassin/*.cf"
    )]
    Hits {
        /// The labelled index.
        #[arg(long)]
        index: PathBuf,
        /// Rule files to load instead of the rules in use.
        files: Vec<PathBuf>,
    },
}

/// Severity filter for `lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MinSeverity {
    /// Everything, including settings that do not apply.
    Info,
    /// Warnings and errors.
    Warning,
    /// Errors only (skipped rules and lines).
    Error,
}

impl MinSeverity {
    fn admits(self, s: Severity) -> bool {
        match self {
            MinSeverity::Info => true,
            MinSeverity::Warning => s >= Severity::Warning,
            MinSeverity::Error => s == Severity::Error,
        }
    }
}

/// Runs a `rules` subcommand; returns the exit code.
pub fn run(cmd: &RulesCommand, rules: &RuleSet) -> Result<i32> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cmd {
        RulesCommand::List { all } => {
            let mut list: Vec<_> = rules
                .iter()
                .filter(|r| *all || (r.score != 0.0 && !r.name.starts_with("__")))
                .collect();
            list.sort_by(|a, b| a.name.cmp(b.name));
            let width = list.iter().map(|r| r.name.len()).max().unwrap_or(4);
            for r in list {
                writeln!(
                    out,
                    "{:<width$}  {:>7.3}  {}",
                    r.name, r.score, r.description
                )?;
            }
            Ok(0)
        }
        RulesCommand::Show { name } => {
            let Some(r) = rules.get(name) else {
                let similar = rules.similar_names(name, 3);
                if similar.is_empty() {
                    bail!("no rule named '{name}'; 'mailsift rules list' shows the rules");
                }
                bail!(
                    "no rule named '{name}'; did you mean {}?",
                    similar
                        .iter()
                        .map(|s| format!("'{s}'"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                );
            };
            writeln!(out, "{}", r.name)?;
            writeln!(out, "  kind:        {}", r.kind.keyword())?;
            writeln!(out, "  score:       {}", r.score)?;
            writeln!(out, "  description: {}", r.description)?;
            writeln!(out, "  defined at:  {}:{}", r.origin, r.line)?;
            writeln!(out, "  definition:  {}", r.source)?;
            if let Some(doc) = r.eval_doc {
                writeln!(out, "  eval test:   {doc}")?;
            }
            Ok(0)
        }
        RulesCommand::Lint {
            files,
            min_severity,
            quiet,
        } => {
            let (set, mut issues) = if files.is_empty() {
                (rules.clone(), rules.issues().to_vec())
            } else {
                // The library's error carries its cause as text and as source: print it once,
                // and without its hint about the configuration, which these files are not from.
                RuleSet::from_files(files).map_err(|e| match e {
                    mailsift::rules::RulesError::Read { path, source } => {
                        anyhow::anyhow!("cannot read rule file {}: {source}", path.display())
                    }
                    e => anyhow::anyhow!("{e}"),
                })?
            };
            issues.extend(set.lint_patterns());
            if !quiet {
                for i in issues.iter().filter(|i| min_severity.admits(i.severity)) {
                    writeln!(out, "{i}")?;
                }
            }
            write!(out, "{}", lint_summary(&set, &issues))?;
            // A rule skipped because it needs the network is skipped by SpamAssassin without
            // network tests too: the stock rules' 151 such rules must not fail a site's check.
            Ok(i32::from(issues.iter().any(|i| {
                i.severity == Severity::Error && !i.needs_network()
            })))
        }
        RulesCommand::Stats {
            index,
            required_score,
            all,
            list_errors,
        } => {
            // Rules alone, as SpamAssassin without Bayes and network tests: score set 0.
            let mut rules = rules.clone();
            rules.set_score_set(0);
            let report = stats(&rules, index, *required_score, *all, *list_errors)?;
            out.write_all(report.as_bytes())?;
            Ok(0)
        }
        RulesCommand::Cost { mail, files, top } => {
            let set = chosen(rules, files)?;
            out.write_all(cost(&set, mail, *top)?.as_bytes())?;
            crate::rules_cache::save(&set);
            Ok(0)
        }
        RulesCommand::Hits { index, files } => {
            let mut set = chosen(rules, files)?;
            // Rules alone, as SpamAssassin without Bayes and network tests: score set 0.
            set.set_score_set(0);
            out.write_all(hits(&set, index)?.as_bytes())?;
            crate::rules_cache::save(&set);
            Ok(0)
        }
    }
}

/// The rules in use, or with `files` just those rule files (with the prefilter cache).
fn chosen(rules: &RuleSet, files: &[PathBuf]) -> Result<RuleSet> {
    if files.is_empty() {
        return Ok(rules.clone());
    }
    let mut set = RuleSet::from_files(files)?.0;
    crate::rules_cache::load(&mut set);
    Ok(set)
}

/// The `rules cost` report: the evaluation's cost per message, the shared phases', then the
/// `top` costliest rules.
fn cost(rules: &RuleSet, mail: &[PathBuf], top: usize) -> Result<String> {
    let limits = Limits::default();
    let ctx = EvalContext::default();
    rules.prepare_now();
    rules.compile_all();
    // Each pass reads the mail again, one message at a time (as `train` does: memory does not
    // grow with a large mbox or Maildir); the first reports what it cannot read.
    let pass = |report: bool, f: &mut dyn FnMut(MessageView)| {
        let (mut messages, mut unreadable, mut not_mail) = (0usize, 0usize, 0usize);
        mailsift::sources::for_each_message(mail, |item| match item.bytes {
            Ok(bytes) if mailsift::sources::is_message(&bytes) => {
                messages += 1;
                f(MessageView::parse(&bytes, &limits));
            }
            Ok(_) => not_mail += 1,
            Err(e) => {
                unreadable += 1;
                if report {
                    eprintln!("mailsift: cannot read {}: {e}", item.label);
                }
            }
        });
        (messages, unreadable, not_mail)
    };
    let (messages, unreadable, not_mail) = pass(true, &mut |view| {
        rules.evaluate(&view, &ctx);
    });
    if messages == 0 {
        bail!("no messages found under the --mail paths: give mail files, Maildirs or mbox files");
    }
    let costs = RuleCosts::new(rules);
    let mut wall = std::time::Duration::ZERO;
    pass(false, &mut |view| {
        let t = std::time::Instant::now();
        rules.evaluate_costed(&view, &ctx, &costs);
        wall += t.elapsed();
    });
    #[allow(clippy::cast_precision_loss)]
    let wall = wall.as_secs_f64() * 1e6 / messages as f64;
    let skipped: Vec<String> = [(unreadable, "unreadable"), (not_mail, "not mail")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    let mut s = format!(
        "# {} message{}{}, {} rules; per message: {wall:.1} us of evaluation (wall), {:.1} us \
         of rule time (both threads of a long-lived rule set count)\n",
        messages,
        if messages == 1 { "" } else { "s" },
        if skipped.is_empty() {
            String::new()
        } else {
            format!(" ({} skipped)", skipped.join(", "))
        },
        rules.len(),
        costs.total_micros(),
    );
    let phases: Vec<String> = Phase::ALL
        .iter()
        .map(|&p| format!("{} {:.1}", p.label(), costs.phase_micros(p)))
        .collect();
    let _ = writeln!(s, "# shared work, us a message: {}", phases.join(", "));
    let _ = writeln!(
        s,
        "# a rule first to need a shared text or measure is charged for building it\n\
         {:>10}  {:>7}  rule (where defined)",
        "us/msg", "runs"
    );
    for r in costs.rules(rules).iter().take(top) {
        let _ = writeln!(
            s,
            "{:>10.2}  {:>7}  {} ({})",
            r.micros, r.runs, r.name, r.origin
        );
    }
    Ok(s)
}

/// The `rules hits` report: the loaded reported rules, then each message's score and hits.
fn hits(rules: &RuleSet, index: &Path) -> Result<String> {
    let entries = read_index(index)?;
    let limits = Limits::default();
    let ctx = EvalContext {
        bayes_probability: None,
        ..EvalContext::default()
    };
    rules.prepare_now();
    let lines: Vec<String> = entries
        .par_iter()
        .map(|e| -> Result<String> {
            let raw = std::fs::read(&e.path)
                .with_context(|| format!("cannot read {}", e.path.display()))?;
            let view = MessageView::parse(&raw, &limits);
            let mut hits = rules.evaluate(&view, &ctx);
            hits.sort_by(|a, b| a.name.cmp(&b.name));
            let score: f64 = hits.iter().map(|h| h.score).sum();
            let names: Vec<&str> = hits.iter().map(|h| h.name.as_str()).collect();
            Ok(format!(
                "{}\t{}\t{score:.3}\t{}\n",
                if e.spam { "spam" } else { "ham" },
                e.path.display(),
                names.join(",")
            ))
        })
        .collect::<Result<_>>()?;
    let mut loaded: Vec<&str> = rules
        .iter()
        .filter(|r| r.score != 0.0 && !r.name.starts_with("__"))
        .map(|r| r.name)
        .collect();
    loaded.sort_unstable();
    let mut s = format!("# loaded {}\n", loaded.join(" "));
    for l in lines {
        s.push_str(&l);
    }
    Ok(s)
}

/// The summary printed after lint issues.
fn lint_summary(set: &RuleSet, issues: &[LintIssue]) -> String {
    let mut by_kind: BTreeMap<RuleKind, usize> = BTreeMap::new();
    for r in set.iter() {
        *by_kind.entry(r.kind).or_default() += 1;
    }
    let loaded: usize = by_kind.values().sum();
    let mut skipped: Vec<&str> = issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .filter_map(|i| i.rule.as_deref())
        .filter(|r| set.get(r).is_none())
        .collect();
    skipped.sort_unstable();
    skipped.dedup();
    let mut network: Vec<&str> = issues
        .iter()
        .filter(|i| i.needs_network())
        .filter_map(|i| i.rule.as_deref())
        .filter(|r| skipped.binary_search(r).is_ok())
        .collect();
    network.sort_unstable();
    network.dedup();
    let never = issues
        .iter()
        .filter(|i| i.severity == Severity::Error && i.message.contains("never hits"))
        .count();
    let count = |s: Severity| issues.iter().filter(|i| i.severity == s).count();
    let kinds = by_kind
        .iter()
        .map(|(k, n)| format!("{n} {}", k.keyword()))
        .collect::<Vec<_>>()
        .join(", ");
    let total = loaded + skipped.len();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{loaded} of {total} rules supported ({:.1}%): {kinds}; {} skipped as unsupported, \
         {never} loaded but with a regex that does not compile",
        if total == 0 {
            100.0
        } else {
            loaded as f64 * 100.0 / total as f64
        },
        skipped.len()
    );
    let local = total - network.len();
    let _ = writeln!(
        s,
        "of the {local} rules that need no network, {loaded} supported ({:.1}%); {} skipped need \
         the network",
        if local == 0 {
            100.0
        } else {
            loaded as f64 * 100.0 / local as f64
        },
        network.len()
    );
    let offline = issues.iter().filter(|i| i.needs_network()).count();
    let _ = writeln!(
        s,
        "{} error(s) ({offline} of them for rules that need the network, which SpamAssassin \
         without network tests skips too), {} warning(s), {} info(s)",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    );
    s
}

/// One labelled message from an index.
struct Entry {
    spam: bool,
    path: PathBuf,
}

fn read_index(index: &Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(index)
        .with_context(|| format!("cannot read index {}", index.display()))?;
    let base = index.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((label, rel)) = line.split_once(char::is_whitespace) else {
            bail!("{}:{}: expected 'spam|ham PATH'", index.display(), n + 1);
        };
        let spam = match label.to_ascii_lowercase().as_str() {
            "spam" => true,
            "ham" => false,
            other => bail!(
                "{}:{}: label '{other}' is neither spam nor ham",
                index.display(),
                n + 1
            ),
        };
        out.push(Entry {
            spam,
            path: base.join(rel.trim()),
        });
    }
    Ok(out)
}

/// Hit frequencies per rule and the rules-alone flag rates.
fn stats(
    rules: &RuleSet,
    index: &Path,
    required: f64,
    all: bool,
    list_errors: bool,
) -> Result<String> {
    let entries = read_index(index)?;
    let limits = Limits::default();
    // With an empty store the engine counts the rules' points at this share (E19).
    let scale = mailsift::Scoring::default().rules_only_scale;
    let ctx = EvalContext {
        bayes_probability: None,
        ..EvalContext::default()
    };
    let results: Vec<(bool, Vec<String>, f64)> = entries
        .par_iter()
        .map(|e| -> Result<_> {
            let raw = std::fs::read(&e.path)
                .with_context(|| format!("cannot read {}", e.path.display()))?;
            let view = MessageView::parse(&raw, &limits);
            let names: Vec<String> = rules
                .evaluate_all(&view, &ctx)
                .into_iter()
                .map(str::to_owned)
                .collect();
            let score: f64 = rules
                .evaluate(&view, &ctx)
                .iter()
                .map(|h| h.score)
                .sum::<f64>()
                * scale;
            Ok((e.spam, names, score))
        })
        .collect::<Result<_>>()?;
    let n_spam = results.iter().filter(|r| r.0).count();
    let n_ham = results.len() - n_spam;
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    if all {
        for r in rules.iter() {
            counts.insert(r.name, (0, 0));
        }
    }
    for (spam, names, _) in &results {
        for n in names {
            let c = counts.entry(n.as_str()).or_default();
            if *spam {
                c.0 += 1;
            } else {
                c.1 += 1;
            }
        }
    }
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let mut rows: Vec<(&str, f64, f64, f64, f64)> = counts
        .iter()
        .filter(|(name, _)| all || !name.starts_with("__"))
        .map(|(name, &(s, h))| {
            let sp = pct(s, n_spam);
            let hp = pct(h, n_ham);
            let so = if sp + hp == 0.0 { 0.5 } else { sp / (sp + hp) };
            let score = rules.get(name).map_or(0.0, |r| r.score);
            (*name, sp, hp, so, score)
        })
        .collect();
    rows.sort_by(|a, b| {
        (b.1 + b.2)
            .total_cmp(&(a.1 + a.2))
            .then_with(|| a.0.cmp(b.0))
    });
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:>8} {:>8} {:>6} {:>8}  NAME",
        "SPAM%", "HAM%", "S/O", "SCORE"
    );
    for (name, sp, hp, so, score) in rows {
        let _ = writeln!(s, "{sp:>8.3} {hp:>8.3} {so:>6.3} {score:>8.3}  {name}");
    }
    if list_errors {
        for (e, (spam, _, score)) in entries.iter().zip(&results) {
            if *spam != (*score >= required) {
                let raw = std::fs::read(&e.path).unwrap_or_default();
                let view = MessageView::parse(&raw, &limits);
                let hits: Vec<String> = rules
                    .evaluate(&view, &ctx)
                    .iter()
                    .map(|h| format!("{}={}", h.name, h.score))
                    .collect();
                let _ = writeln!(
                    s,
                    "{} {score:.1} {} {}",
                    if *spam { "missed-spam" } else { "flagged-ham" },
                    e.path.display(),
                    hits.join(",")
                );
            }
        }
    }
    let flagged_spam = results.iter().filter(|r| r.0 && r.2 >= required).count();
    let flagged_ham = results.iter().filter(|r| !r.0 && r.2 >= required).count();
    let _ = writeln!(
        s,
        "\nrules alone (empty store: points x {scale}) at required_score {required}: spam flagged {flagged_spam}/{n_spam} ({:.2}%), \
         ham flagged {flagged_ham}/{n_ham} ({:.2}%)",
        pct(flagged_spam, n_spam),
        pct(flagged_ham, n_ham)
    );
    Ok(s)
}
