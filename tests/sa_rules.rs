//! `spamassassin_rules` and `rules hits`: SpamAssassin rule files loaded with their score sets.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{Scratch, bare};

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const RULES: &str = "body SA_PILLS /pills/i\nscore SA_PILLS 1.5 1.6 4.5 4.6\n\
                     body BAYES_99 eval:check_bayes('0.99', '1.00')\nscore BAYES_99 3.5\n";
const MSG: &str = "From: a@example.org\nTo: b@example.com\nSubject: pills\n\ncheap pills\n";

fn setup(dir: &Path) -> PathBuf {
    let rules = dir.join("sa");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(rules.join("50_test.cf"), RULES).expect("write");
    let cfg = dir.join("config.toml");
    std::fs::write(
        &cfg,
        format!("spamassassin_rules = \"{}\"\n", rules.display()),
    )
    .expect("write");
    std::fs::write(dir.join("msg.eml"), MSG).expect("write");
    std::fs::write(dir.join("index"), "spam msg.eml\n").expect("write");
    cfg
}

#[test]
fn spamassassin_rules_load_with_score_set_2_and_rules_hits_uses_set_0() {
    let scratch = Scratch::new("sarules-sets");
    let dir = scratch.0.clone();
    let cfg = setup(&dir);
    let cfg = cfg.to_str().expect("utf-8");
    let o = bare()
        .args(["--config", cfg, "rules", "show", "SA_PILLS"])
        .output()
        .expect("run");
    assert!(o.status.success(), "{o:?}");
    assert!(out(&o).contains("score:       4.5"), "{}", out(&o));
    // Rules alone: SpamAssassin's set 0; BAYES_99 never hits.
    let index = dir.join("index");
    let o = bare()
        .args(["--config", cfg, "rules", "hits", "--index"])
        .arg(&index)
        .arg(dir.join("sa/50_test.cf"))
        .output()
        .expect("run");
    assert!(o.status.success(), "{o:?}");
    let line = out(&o)
        .lines()
        .find(|l| l.starts_with("spam\t"))
        .map(str::to_owned)
        .expect("a message line");
    assert!(line.ends_with("\t1.500\tSA_PILLS"), "{line}");
    assert!(!line.contains("BAYES_99"), "{line}");
}

/// `rules cost` times the rules on the mail given, costliest first, and lists only the rules
/// that were matched (the prefilter ruled `SA_NEVER`'s literal out).
#[test]
fn rules_cost_lists_the_rules_that_ran_costliest_first() {
    let scratch = Scratch::new("sarules-cost");
    let dir = scratch.0.clone();
    setup(&dir);
    let rules = dir.join("cost.cf");
    std::fs::write(
        &rules,
        "body SA_PILLS /pills/i\nscore SA_PILLS 1.5\n\
         body SA_NEVER /zebrafinch/\nscore SA_NEVER 1.0\n\
         header SA_SUBJ Subject =~ /pills/\nscore SA_SUBJ 1.0\n",
    )
    .expect("write");
    let o = bare()
        .args(["rules", "cost", "--top", "5", "--mail"])
        .arg(dir.join("msg.eml"))
        .arg("--mail")
        .arg(dir.join("index"))
        .arg(&rules)
        .output()
        .expect("run");
    assert!(o.status.success(), "{o:?}");
    let report = out(&o);
    // The index file is not mail: counted as skipped.
    assert!(
        report.starts_with("# 1 message (1 not mail skipped), 3 rules; per message: "),
        "{report}"
    );
    assert!(report.contains("# shared work, us a message: texts and literal prefilter "));
    let rows: Vec<(f64, &str)> = report
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim_start().starts_with("us/msg"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f[1], "1", "ran on the one message: {l}");
            (f[0].parse().expect("us/msg"), f[2])
        })
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r.1).collect();
    assert!(
        names.contains(&"SA_PILLS") && names.contains(&"SA_SUBJ"),
        "{report}"
    );
    assert!(!names.contains(&"SA_NEVER"), "{report}");
    assert!(rows.windows(2).all(|w| w[0].0 >= w[1].0), "{report}");
    // No mail found is an error that says what to give.
    let o = bare()
        .args(["rules", "cost", "--mail"])
        .arg(dir.join("sa"))
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no messages found"));
}

#[test]
fn a_missing_spamassassin_rules_path_is_a_clear_error() {
    let scratch = Scratch::new("sarules-missing");
    let dir = scratch.0.clone();
    let cfg = dir.join("config.toml");
    std::fs::write(&cfg, "spamassassin_rules = \"/nonexistent/sa-rules.cf\"\n").expect("write");
    let o = bare()
        .args(["--config", cfg.to_str().expect("utf-8"), "rules", "list"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("spamassassin_rules"), "{err}");
}

#[test]
fn lint_counts_rules_that_need_the_network_apart() {
    let scratch = Scratch::new("sarules-lint");
    let f = scratch.0.join("net.cf");
    // `rules lint -q` on `rules`: its exit code and summary.
    let lint = |rules: &str| {
        std::fs::write(&f, rules).expect("write");
        let o = bare()
            .args(["rules", "lint", "-q"])
            .arg(&f)
            .output()
            .expect("run");
        (o.status.code(), out(&o))
    };
    let (code, text) = lint("body LOCAL_ONE /pills/\naskdns NET_ONE _SENDERDOMAIN_ A /./\n");
    // Skipping a rule that needs the network is what SpamAssassin without network tests does:
    // it does not fail the check.
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("1 of 2 rules supported"), "{text}");
    assert!(
        text.contains(
            "of the 1 rules that need no network, 1 supported (100.0%); 1 skipped need the network"
        ),
        "{text}"
    );
    assert!(
        text.contains("1 error(s) (1 of them for rules that need the network"),
        "{text}"
    );
    // A rule skipped that SpamAssassin would run does.
    let (code, text) = lint(
        "body LOCAL_ONE /pills/\naskdns NET_ONE _SENDERDOMAIN_ A /./\n\
         body LOCAL_TWO eval:no_such_test()\n",
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("of the 2 rules that need no network, 1 supported (50.0%)")
            && text.contains("2 error(s) (1 of them for rules that need the network"),
        "{text}"
    );
    // A rule in a block for a network plugin mailsift does not emulate needs the network too.
    let (code, text) = lint(
        "loadplugin Mail::SpamAssassin::Plugin::DCC\nifplugin Mail::SpamAssassin::Plugin::DCC\n\
         full DCC_ONE eval:check_dcc()\nendif\nbody LOCAL_ONE /pills/\n",
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("1 error(s) (1 of them for rules that need the network"),
        "{text}"
    );
    // A malformed setting does not, though its message says "network".
    let (code, text) = lint("trusted_networks not-an-address\nbody LOCAL_ONE /pills/\n");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("1 error(s) (0 of them for rules that need the network"),
        "{text}"
    );
}

/// The prefilter cache of SpamAssassin rule sets (issue #12, speed): the first process writes
/// it, later ones read it, and a corrupt one is ignored and rewritten, with the same verdict.
#[test]
fn classify_keeps_the_rules_prefilter_in_a_cache_that_never_changes_the_verdict() {
    use std::io::Write;
    let scratch = Scratch::new("cache");
    let dir = scratch.0.clone();
    let cfg = setup(&dir);
    let cache = dir.join("cache");
    let classify = || {
        let mut child = bare()
            .env("XDG_CACHE_HOME", &cache)
            .arg("--config")
            .arg(&cfg)
            .arg("--db")
            .arg(dir.join("none.db"))
            .args(["classify", "--no-server"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(MSG.as_bytes())
            .expect("write");
        let o = child.wait_with_output().expect("run");
        assert!(o.status.success(), "{o:?}");
        let status: Vec<String> = out(&o)
            .lines()
            .filter(|l| l.starts_with("X-Spam-Status"))
            .map(str::to_owned)
            .collect();
        assert_eq!(status.len(), 1, "{}", out(&o));
        status[0].clone()
    };
    let cache_file = || {
        let files: Vec<PathBuf> = std::fs::read_dir(cache.join("mailsift"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert_eq!(files.len(), 1, "one cache file: {files:?}");
        files[0].clone()
    };
    let first = classify();
    assert!(first.contains("score="), "{first}");
    let file = cache_file();
    let text = std::fs::read_to_string(&file).expect("read cache");
    assert!(text.starts_with("# mailsift prefilter cache v2 "), "{text}");
    assert!(
        text.contains("SA_PILLS\t"),
        "the loaded rule's literals: {text}"
    );
    assert_eq!(classify(), first, "read back");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        text,
        "not rewritten"
    );
    // Corrupt it (a literal changed, the checksum left as it was): ignored, then rebuilt.
    std::fs::write(&file, text.replace("SA_PILLS\t", "SA_PILLS\t0")).expect("corrupt");
    assert_eq!(classify(), first, "a corrupt cache changes nothing");
    assert_eq!(
        std::fs::read_to_string(cache_file()).expect("read"),
        text,
        "rebuilt"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn builtin_rules_false_runs_the_rule_files_alone() {
    let scratch = Scratch::new("sarules-nobuiltin");
    let dir = scratch.0.clone();
    let cfg = setup(&dir);
    let list = |cfg: &Path| {
        let o = bare()
            .args(["--config", cfg.to_str().expect("utf-8"), "rules", "list"])
            .output()
            .expect("run");
        assert!(o.status.success(), "{o:?}");
        out(&o)
    };
    let both = list(&cfg);
    assert!(both.contains("SA_PILLS"), "{both}");
    assert!(both.contains("CLICK_HERE"), "{both}");
    let only = dir.join("only.toml");
    let text = std::fs::read_to_string(&cfg).expect("read");
    std::fs::write(&only, format!("{text}builtin_rules = false\n")).expect("write");
    let files = list(&only);
    assert!(files.contains("SA_PILLS"), "{files}");
    assert!(!files.contains("CLICK_HERE"), "{files}");
    // The message's verdict comes from the file's rule alone: SA_PILLS at set 2's 4.5, scaled
    // until Bayes has learned both classes, and no built-in rule beside it.
    let o = bare()
        .args([
            "--config",
            only.to_str().expect("utf-8"),
            "--db",
            &scratch.db(),
            "explain",
        ])
        .arg(dir.join("msg.eml"))
        .output()
        .expect("run");
    let text = out(&o);
    assert!(text.contains("SA_PILLS"), "{text}");
    assert!(text.contains("Rules (1 hit"), "{text}");
}

#[test]
fn rules_beside_spamassassins_count_less_when_they_fire_together() {
    let scratch = Scratch::new("sarules-overlap");
    let dir = scratch.0.clone();
    let cfg = setup(&dir);
    let msg = dir.join("click.eml");
    std::fs::write(
        &msg,
        "From: a@example.org\nTo: b@example.com\nSubject: offer\n\ncheap pills, click here\n",
    )
    .expect("write");
    let explain = |cfg: &Path| {
        let o = bare()
            .args([
                "--config",
                cfg.to_str().expect("utf-8"),
                "--db",
                &scratch.db(),
            ])
            .arg("explain")
            .arg(&msg)
            .output()
            .expect("run");
        assert!(o.status.success(), "{o:?}");
        out(&o)
    };
    // (configured score, weight) of a rule's line.
    let weights = |text: &str, name: &str| -> (f64, f64) {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().nth(2) == Some(name))
            .unwrap_or_else(|| panic!("no {name} line in {text}"));
        let mut f = line
            .split_whitespace()
            .map(|x| x.parse::<f64>().expect("number"));
        (f.next().expect("score"), f.next().expect("weight"))
    };
    // "auto": SpamAssassin's rules beside the built-in ones, so the smaller hit is discounted
    // (E40: decay 0.2, the second hit counts 1/1.2).
    let auto = explain(&cfg);
    assert!(auto.contains("count less"), "{auto}");
    assert_eq!(weights(&auto, "SA_PILLS"), (4.5, 4.5));
    let mut hits: Vec<(f64, f64)> = ["SA_PILLS", "CLICK_HERE", "MISSING_DATE", "MISSING_MID"]
        .iter()
        .map(|n| weights(&auto, n))
        .collect();
    hits.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (rank, (score, weight)) in hits.iter().enumerate() {
        let want = score / (1.0 + 0.2 * rank as f64);
        assert!((weight - want).abs() < 0.006, "rank {rank}: {auto}");
    }
    let off = dir.join("off.toml");
    let text = std::fs::read_to_string(&cfg).expect("read");
    std::fs::write(&off, format!("{text}rule_overlap = \"off\"\n")).expect("write");
    let plain = explain(&off);
    assert!(!plain.contains("count less"), "{plain}");
    let (score, weight) = weights(&plain, "CLICK_HERE");
    assert_eq!(score, weight, "{plain}");
}

/// Everyday commands warn about problems in the administrator's own rule files, once, naming
/// the file; what mailsift skips of the rules SpamAssassin's packages install (network tests
/// mostly, which SpamAssassin without network tests does not run either) is left to
/// `rules lint`, instead of a "165 problem(s)" line on every `score` or `train`.
#[test]
fn only_problems_in_the_sites_own_rule_files_are_warned_about() {
    let scratch = Scratch::new("sarules-warn");
    let dir = scratch.0.clone();
    let own = dir.join("local.cf");
    std::fs::write(
        &own,
        "body LOCAL_ONE /pills/\naskdns NET_ONE _SENDERDOMAIN_ A /./\n",
    )
    .expect("write");
    std::fs::write(dir.join("msg.eml"), MSG).expect("write");
    let score = |config: &str| {
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, config).expect("write");
        let o = bare()
            .arg("--db")
            .arg(dir.join("m.db"))
            .arg("--config")
            .arg(&cfg)
            .arg("score")
            .arg(dir.join("msg.eml"))
            .output()
            .expect("run");
        assert!(o.status.success(), "{o:?}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let err = score(&format!("rule_files = [\"{}\"]\n", own.display()));
    let want = format!("warning: 1 problem(s) in {} (", own.display());
    assert!(err.contains(&want), "{err}");
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    if !Path::new("/usr/share/spamassassin").is_dir() {
        eprintln!(
            "skipped the stock-rules half: SpamAssassin's rules are not installed (scripts/install-test-deps)"
        );
        return;
    }
    // The stock rules alone: `rules lint` reports rules it skips in them, and no command
    // repeats that.
    let err = score("spamassassin_rules = \"auto\"\n");
    assert!(!err.contains("problem"), "{err}");
    let lint = bare()
        .arg("--config")
        .arg(dir.join("config.toml"))
        .args(["rules", "lint"])
        .output()
        .expect("run");
    let text = out(&lint) + &String::from_utf8_lossy(&lint.stderr);
    assert!(
        text.lines()
            .any(|l| l.starts_with("/usr/share/spamassassin/") && l.contains(": error: ")),
        "{text}"
    );
    // Every rule it skips there needs the network (SpamAssassin without network tests skips
    // them too), so the check passes.
    assert_eq!(lint.status.code(), Some(0), "{text}");
    let summary = text
        .lines()
        .find(|l| l.contains(" error(s) ("))
        .unwrap_or_else(|| panic!("no summary in {text}"));
    let (errors, network) = summary
        .split_once(" error(s) (")
        .and_then(|(e, rest)| Some((e, rest.split_once(" of them")?.0)))
        .unwrap_or_else(|| panic!("{summary}"));
    assert_eq!(errors, network, "{summary}");
    assert_ne!(errors, "0", "{summary}");
    // And with the site's own file beside them, only its problem.
    let err = score(&format!(
        "spamassassin_rules = \"auto\"\nrule_files = [\"{}\"]\n",
        own.display()
    ));
    assert!(err.contains(&want), "{err}");
    assert_eq!(err.matches("warning").count(), 1, "{err}");
}
