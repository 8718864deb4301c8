//! The prefilter cache: the literal prefilter of a loaded rule set, kept between processes.
//!
//! Preparing a rule set extracts, for every regex (and every alternative of a split one), the
//! literals each match must contain. For the built-in rules a table compiled into the binary
//! saves that work; for SpamAssassin's ~1,300 regexes it was about a second of CPU per process
//! (regex parsing and literal analysis; SA-FIDELITY.md, "Speed"). The cache is the same table
//! for any rule set, written after one preparation and read back by later processes.
//!
//! It is never a correctness risk: the text carries a checksum and mailsift's version, and a
//! text that fails either is ignored (the literals are then computed, as without a cache); each
//! row is used only for a rule whose pattern has the fingerprint stored with it, so a stale
//! cache (rule files edited, an included file changed) costs time, never a missed hit.
//!
//! The library does no file I/O for it: the caller reads and writes the text where it keeps
//! caches, under a name made from [`RuleSet::prefilter_cache_key`].

use std::sync::{Arc, OnceLock};

use super::RuleSet;

/// First word of the header line, with the format version.
const MAGIC: &str = "# mailsift prefilter cache v2";

/// The checksum of a cache body.
fn checksum(body: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(body.as_bytes())
}

/// The header line a cache body gets.
fn header(body: &str) -> String {
    format!(
        "{MAGIC} {} {:016x}\n",
        env!("CARGO_PKG_VERSION"),
        checksum(body)
    )
}

/// The body of a valid cache text; `None` when the header, version or checksum does not match.
fn valid_body(text: &str) -> Option<&str> {
    let (first, body) = text.split_once('\n')?;
    let rest = first.strip_prefix(MAGIC)?.strip_prefix(' ')?;
    let (version, sum) = rest.split_once(' ')?;
    let sum = u64::from_str_radix(sum, 16).ok()?;
    (version == env!("CARGO_PKG_VERSION") && sum == checksum(body)).then_some(body)
}

impl RuleSet {
    /// A key naming this rule set's prefilter cache: a hash of mailsift's version and the
    /// origin and text of every rule source loaded (the built-in rules and each file given;
    /// not the files those `include`). Rule files that change get a new key; an unchanged key
    /// over a changed included file is still safe (see the module documentation).
    pub fn prefilter_cache_key(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        for s in &self.inner.sources {
            h.update(&[0xff]);
            h.update(s.origin.as_bytes());
            h.update(&[0]);
            h.update(&(s.text.len() as u64).to_le_bytes());
            h.update(s.text.as_bytes());
        }
        h.digest()
    }

    /// Takes prefilter literals from a cache text (what [`RuleSet::prefilter_cache`] wrote).
    /// Returns false, changing nothing, when the text is not a valid cache (truncated, corrupt,
    /// another version of mailsift). Call before the first evaluation.
    pub fn use_prefilter_cache(&mut self, text: &str) -> bool {
        let Some(body) = valid_body(text) else {
            return false;
        };
        let inner = Arc::make_mut(&mut self.inner);
        inner.cached_prefilter = Some(Arc::from(body));
        inner.prepared = OnceLock::new();
        true
    }

    /// The cache text for this rule set once it has been prepared (evaluated once, or
    /// [`RuleSet::prepare_now`]), when preparing it computed literals that no table held:
    /// writing it lets the next process skip that work. `None` when there is nothing to save.
    pub fn prefilter_cache(&self) -> Option<String> {
        let prep = self.inner.prepared.get()?;
        if prep.computed == 0 {
            return None;
        }
        let mut body = String::with_capacity(prep.rows.len() * 48);
        for (name, fp, lits) in &prep.rows {
            let lits = match lits {
                None => "-".to_owned(),
                // An empty set would read back as one empty literal: left out (recomputed).
                Some(c)
                    if c.is_empty()
                        || c.iter()
                            .any(|l| l.is_empty() || l.iter().any(Vec::is_empty)) =>
                {
                    continue;
                }
                Some(c) => super::table::clauses_text(c),
            };
            // Names never hold tabs or newlines (rule names are word characters).
            body.push_str(&format!("{name}\t{fp:016x}\t{lits}\n"));
        }
        Some(header(&body) + &body)
    }

    /// How many literal sets the last preparation computed (not found in a table or cache):
    /// 0 when a cache covered them all. `None` before preparation.
    pub fn prefilter_computed(&self) -> Option<usize> {
        self.inner.prepared.get().map(|p| p.computed)
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::tests::{assert_same_hits_on_fixtures, ctx};
    use super::super::{RuleSet, installed_rule_files};
    use crate::{Limits, MessageView};

    /// Extra rules whose literals no built-in table holds, one of them split into alternatives.
    const EXTRA: &str = "body CACHE_PHRASE /(?:cheap meds|lowest prices|act now)/i\n\
                         body CACHE_WORD /\\bunsubscribe\\b/i\n\
                         header CACHE_SUBJ Subject =~ /(?:free|winner)/i\n\
                         rawbody CACHE_ALWAYS /^.{0,3}$/m\n\
                         body CACHE_TWO /\\bbonus\\b.{0,20}\\bjackpot\\b/i\n";

    fn extra_set(extra: &str) -> RuleSet {
        let (set, issues) = RuleSet::load(&[
            ("<default>".into(), super::super::DEFAULT_RULES.into()),
            ("extra.cf".into(), extra.into()),
        ]);
        assert!(issues.is_empty(), "{issues:?}");
        set
    }

    /// Prepares `set` by evaluating one message.
    fn prepare(set: &RuleSet) {
        let v = MessageView::parse(b"Subject: hi\n\nhello\n", &Limits::default());
        let _ = set.evaluate(&v, &ctx());
    }

    #[test]
    fn a_cache_read_back_gives_the_same_hits_without_computing() {
        let fresh = extra_set(EXTRA);
        prepare(&fresh);
        let text = fresh
            .prefilter_cache()
            .expect("extra rules computed literals");
        assert!(fresh.prefilter_computed().is_some_and(|n| n > 0));
        let mut cached = extra_set(EXTRA);
        assert_eq!(cached.prefilter_cache_key(), fresh.prefilter_cache_key());
        assert!(cached.use_prefilter_cache(&text));
        prepare(&cached);
        assert_eq!(
            cached.prefilter_computed(),
            Some(0),
            "everything from the cache"
        );
        assert_eq!(cached.prefilter_cache(), None, "nothing new to save");
        assert_same_hits_on_fixtures(&fresh, &cached);
        // CACHE_TWO's two clauses are read back as two (a row of two clauses, ` | `).
        assert!(
            text.lines()
                .any(|l| l.starts_with("CACHE_TWO\t") && l.contains(" | ")),
            "{text}"
        );
        let spam = b"Subject: you are a WINNER\n\nCheap meds at the lowest prices. Unsubscribe\n\
                     Your bonus: the jackpot!\n";
        let v = MessageView::parse(spam, &Limits::default());
        let hits = cached.evaluate_all(&v, &ctx());
        for name in ["CACHE_PHRASE", "CACHE_WORD", "CACHE_SUBJ", "CACHE_TWO"] {
            assert!(hits.contains(&name), "{name} in {hits:?}");
        }
        assert_eq!(hits, fresh.evaluate_all(&v, &ctx()));
    }

    #[test]
    fn a_corrupt_or_foreign_cache_is_ignored() {
        let fresh = extra_set(EXTRA);
        prepare(&fresh);
        let text = fresh.prefilter_cache().expect("computed");
        let mut set = extra_set(EXTRA);
        // One literal changed (what a bad disk or a half-written file could do).
        let flipped = text.replacen("\t", "\t0", 2);
        assert!(!set.use_prefilter_cache(&flipped));
        assert!(
            !set.use_prefilter_cache(&text[..text.len() - 5]),
            "truncated"
        );
        assert!(!set.use_prefilter_cache(""));
        let foreign = text.replacen(env!("CARGO_PKG_VERSION"), "0.0.0-other", 1);
        assert!(!set.use_prefilter_cache(&foreign), "another version");
        // A cache of the format before clauses (one literal set a row) is rebuilt.
        let v1 = text.replacen("prefilter cache v2 ", "prefilter cache v1 ", 1);
        assert!(!set.use_prefilter_cache(&v1), "the older format");
        prepare(&set);
        assert!(set.prefilter_computed().is_some_and(|n| n > 0), "computed");
    }

    #[test]
    fn a_stale_row_is_not_used_for_a_changed_rule() {
        // The cache of one set offered to a set where CACHE_WORD changed: its row's fingerprint
        // no longer matches, so its literals are computed and the new pattern's hits found.
        let old = extra_set(EXTRA);
        prepare(&old);
        let text = old.prefilter_cache().expect("computed");
        let changed = EXTRA.replace("\\bunsubscribe\\b", "\\bremove me\\b");
        let mut set = extra_set(&changed);
        assert_ne!(set.prefilter_cache_key(), old.prefilter_cache_key());
        assert!(
            set.use_prefilter_cache(&text),
            "valid text, other key: still usable"
        );
        let v = MessageView::parse(b"Subject: x\n\nplease remove me now\n", &Limits::default());
        assert!(set.evaluate_all(&v, &ctx()).contains(&"CACHE_WORD"));
        assert_eq!(set.prefilter_computed(), Some(1), "only the changed rule");
    }

    /// Messages to compare hits on: the rule fixtures, and the first messages of the
    /// SpamAssassin corpus when it is present.
    fn messages() -> Vec<Vec<u8>> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("rules/fixtures"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        let corpus = root.join("../corpora/spamassassin");
        if let Ok(index) = std::fs::read_to_string(corpus.join("index")) {
            files.extend(
                index
                    .lines()
                    .take(
                        std::env::var("MAILSIFT_EQUIV_MESSAGES")
                            .ok()
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(30),
                    )
                    .filter_map(|l| l.split_once(' '))
                    .map(|(_, rel)| corpus.join(rel)),
            );
        } else {
            eprintln!("SpamAssassin corpus absent (corpora/fetch-spamassassin): fixtures only");
        }
        files.sort();
        files.iter().filter_map(|f| std::fs::read(f).ok()).collect()
    }

    /// A loader of SpamAssassin's installed stock rules (on top of the built-in ones), or
    /// `None`, with a skip message, when they are not installed.
    fn stock_rules() -> Option<impl Fn() -> RuleSet> {
        let files = installed_rule_files(
            Path::new("/var/lib/spamassassin"),
            Path::new("/usr/share/spamassassin"),
            Path::new("/etc/spamassassin"),
        );
        if files.is_empty() {
            eprintln!(
                "SpamAssassin's rules are not installed (scripts/install-test-deps): skipped"
            );
            return None;
        }
        Some(move || {
            RuleSet::default_rules()
                .with_files(&files)
                .expect("rules")
                .0
        })
    }

    #[test]
    fn stock_spamassassin_rules_hit_the_same_with_the_cache() {
        let Some(load) = stock_rules() else {
            return;
        };
        let fresh = load();
        let msgs = messages();
        let views: Vec<MessageView> = msgs
            .iter()
            .map(|m| MessageView::parse(m, &Limits::default()))
            .collect();
        let want: Vec<Vec<&str>> = views
            .iter()
            .map(|v| fresh.evaluate_all(v, &ctx()))
            .collect();
        let text = fresh
            .prefilter_cache()
            .expect("stock rules computed literals");
        let mut cached = load();
        assert!(cached.use_prefilter_cache(&text));
        // Long-lived (as `serve` prepares it), so both prefilter kinds are covered.
        cached.prepare_now();
        assert_eq!(cached.prefilter_computed(), Some(0));
        for (i, v) in views.iter().enumerate() {
            assert_eq!(cached.evaluate_all(v, &ctx()), want[i], "message {i}");
        }
        assert!(want.iter().any(|h| !h.is_empty()), "some rule hit");
    }

    /// A long-lived rule set matches the text rules on a second thread, and both threads take
    /// header rules, evals and uri rules from one list (`RuleSet::run`): every stock rule hits
    /// as when one thread evaluates them all. Also inside a pool whose
    /// only thread is the caller, where the second thread's job cannot start before the
    /// caller needs the list of text rules: the caller makes it and matches them itself
    /// (waiting for the job would never return).
    /// `MAILSIFT_EQUIV_MESSAGES=N` compares on the first N corpus messages (default 30).
    #[test]
    fn stock_spamassassin_rules_hit_the_same_on_two_threads() {
        let Some(load) = stock_rules() else {
            return;
        };
        let rules = load();
        rules.prepare_now();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .expect("a one-thread pool");
        let mut hits = 0;
        for (i, m) in messages().iter().enumerate() {
            let v = MessageView::parse(m, &Limits::default());
            super::super::run::ONE_THREAD.set(true);
            let want = rules.evaluate_all(&v, &ctx());
            super::super::run::ONE_THREAD.set(false);
            hits += want.len();
            assert_eq!(rules.evaluate_all(&v, &ctx()), want, "message {i}");
            let alone = pool.install(|| rules.evaluate_all(&v, &ctx()));
            assert_eq!(alone, want, "message {i}, in a one-thread pool");
        }
        assert!(hits > 0, "some rule hit");
    }

    /// A server tokenizes a message on one of the rules' threads
    /// (`Engine::analyze_with_hits`): the same tokens, digest, hits and verdict as analysing
    /// it, then running the rules, then Bayes, with the stock rules (two threads) and the
    /// built-in ones (one), against a model trained on half the messages.
    #[test]
    fn tokenizing_beside_the_rules_changes_no_verdict() {
        let Some(load) = stock_rules() else {
            return;
        };
        let msgs = messages();
        for stock in [true, false] {
            let mut engine = crate::Engine::default();
            if stock {
                engine.rules = load();
            }
            engine.rules.prepare_now();
            let mut model = crate::MemoryModel::new();
            for (i, m) in msgs.iter().enumerate().step_by(2) {
                let a = engine.analyze(m);
                let action = if i % 4 == 0 {
                    crate::Action::Learn(crate::Class::Spam)
                } else {
                    crate::Action::Learn(crate::Class::Ham)
                };
                model.apply(&engine.op(&a, action));
            }
            let mut hits = 0;
            for (i, m) in msgs.iter().enumerate() {
                let recipients = ["rcpt@example.com".to_owned()];
                let want = engine.analyze_for(m, &recipients);
                let (got, got_hits) = engine.analyze_with_hits(m, &recipients);
                assert_eq!(got.tokens.hashes, want.tokens.hashes, "message {i}");
                assert_eq!(got.digest, want.digest, "message {i}");
                let got_hits = got_hits.expect("the rules run before Bayes by default");
                assert_eq!(got_hits, engine.rule_hits(&want, None), "message {i}");
                hits += got_hits.len();
                let v = engine.verdict(&want, &model).expect("verdict");
                let w = engine
                    .verdict_with(&got, Some(&got_hits), &model)
                    .expect("verdict");
                assert_eq!(w.score.to_bits(), v.score.to_bits(), "message {i}");
                assert_eq!(w.header_fields(), v.header_fields(), "message {i}");
            }
            // The built-in rules hit few messages (none of the first corpus messages).
            assert!(hits > 0 || !stock, "some stock rule hit");
        }
    }

    /// Header rules run only when their literals occur in the header's text, found by one
    /// scan of that text (`run::header_entry`): every stock rule hits as with no header
    /// prefilter, in a one-message and a long-lived rule set.
    /// `MAILSIFT_EQUIV_MESSAGES=N` compares on the first N corpus messages (default 30).
    #[test]
    fn stock_spamassassin_rules_hit_the_same_without_the_header_prefilter() {
        let Some(load) = stock_rules() else {
            return;
        };
        let msgs = messages();
        for long_lived in [false, true] {
            let rules = load();
            if long_lived {
                rules.prepare_now();
            }
            let mut hits = 0;
            for (i, m) in msgs.iter().enumerate() {
                let v = MessageView::parse(m, &Limits::default());
                super::super::run::NO_HEADER_PREFILTER.set(true);
                let want = rules.evaluate_all(&v, &ctx());
                super::super::run::NO_HEADER_PREFILTER.set(false);
                hits += want.len();
                let got = rules.evaluate_all(&v, &ctx());
                assert_eq!(got, want, "message {i}, long-lived {long_lived}");
            }
            assert!(hits > 0, "some rule hit");
        }
    }

    /// The text rules without literals of a long-lived rule set run only where one scan of
    /// their patterns together finds theirs can match (`setfilter::SetFilter`): every stock
    /// rule hits as when each of them runs on every message.
    /// `MAILSIFT_EQUIV_MESSAGES=N` compares on the first N corpus messages (default 30).
    #[test]
    fn stock_spamassassin_rules_hit_the_same_without_the_set_filter() {
        let Some(load) = stock_rules() else {
            return;
        };
        let rules = load();
        rules.prepare_now();
        rules.compile_all();
        let prep = rules.inner.prepared.get().expect("prepared");
        let covered = prep
            .body
            .set
            .get()
            .and_then(Option::as_ref)
            .map_or(0, |s| s.len());
        assert!(covered >= 40, "the body set filter covers {covered} rules");
        let mut hits = 0;
        for (i, m) in messages().iter().enumerate() {
            let v = MessageView::parse(m, &Limits::default());
            // On this thread (the switch is this thread's).
            super::super::run::ONE_THREAD.set(true);
            super::super::setfilter::NO_SET_FILTER.set(true);
            let want = rules.evaluate_all(&v, &ctx());
            super::super::setfilter::NO_SET_FILTER.set(false);
            let got = rules.evaluate_all(&v, &ctx());
            super::super::run::ONE_THREAD.set(false);
            hits += want.len();
            assert_eq!(got, want, "message {i}");
        }
        assert!(hits > 0, "some rule hit");
    }

    /// The backtracking rules run only where their guard can start a match
    /// (`Pattern::backtracking_match`): every stock rule hits as with one unanchored run.
    /// `MAILSIFT_EQUIV_MESSAGES=N` compares on the first N corpus messages (default 30).
    #[test]
    fn stock_spamassassin_rules_hit_the_same_with_the_start_position_search() {
        let Some(load) = stock_rules() else {
            return;
        };
        let mut plain = load();
        plain.set_plain_engines();
        let fast = load();
        fast.compile_all();
        let msgs = messages();
        let mut differ = Vec::new();
        let mut hits = 0;
        for (i, m) in msgs.iter().enumerate() {
            let v = MessageView::parse(m, &Limits::default());
            let (want, got) = (
                plain.evaluate_all(&v, &ctx()),
                fast.evaluate_all(&v, &ctx()),
            );
            hits += want.len();
            if want != got {
                let only = |a: &[&str], b: &[&str]| -> Vec<String> {
                    a.iter()
                        .filter(|x| !b.contains(x))
                        .map(|x| x.to_string())
                        .collect()
                };
                differ.push(format!(
                    "message {i}: before only {:?}, now only {:?}",
                    only(&want, &got),
                    only(&got, &want)
                ));
            }
        }
        assert!(differ.is_empty(), "{}", differ.join("\n"));
        assert!(hits > 0, "some rule hit");
    }
}
