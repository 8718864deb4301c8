//! The delivery recipes in recipes/, run with the real programs: procmail and maildrop as the
//! MDA, Dovecot LDA with the Pigeonhole Sieve filter, IMAPSieve retraining through a private
//! Dovecot, and the Postfix content filter through a private Postfix. Each gets 20 spam and 20
//! ham from the SpamAssassin corpus (a database trained on a disjoint part), then a few messages
//! under each fault: mailsift missing, killed with SIGKILL in mid-message, a corrupt database,
//! an unreadable database directory, a server stopped with SIGSTOP. Every message must be
//! delivered exactly once (inbox or Junk, as its X-Spam-Flag says), never deferred, never empty,
//! its body byte-identical. Tests skip, saying so, where a program is not installed
//! (scripts/install-test-deps installs them). Each test prints its row of the README's table.

mod common;
#[path = "mda_env/mod.rs"]
mod env;

use common::Scratch;
use env::servers::{Dovecot, Imap, Postfix, smtp_send};
use env::{Corpus, Fault, Folder, Msg, User};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What one delivery left behind: its folder (None: the recipe files nowhere, Postfix) and bytes.
type Got = (Option<Folder>, Vec<u8>);

/// Delivers one message through a recipe; Err says why it was not accepted.
type Deliver = Box<dyn Fn(&Msg) -> Result<(), String> + Sync>;

/// How a recipe's deliveries are checked.
#[derive(Clone, Copy)]
struct Expect {
    /// The recipe writes X-Spam-* fields (all but the --exit-code one).
    flags: bool,
    /// The MDA adds no header fields of its own: the header must be the input's plus ours.
    strict_header: bool,
    /// The filter sees the input as is, so its verdict must be the one computed beforehand.
    /// (Postfix's filter sees the message with Postfix's Received field: there, the database's
    /// use is checked through X-Spam-Bayes instead.)
    exact_verdict: bool,
}

/// The value of a header field of ours.
fn field(m: &[u8], name: &str) -> Option<String> {
    let (header, _) = env::split(m);
    header.split(|&b| b == b'\n').find_map(|l| {
        let l = String::from_utf8_lossy(l);
        let (n, value) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

/// Checks one case: every input delivered once, with its body, in the folder its verdict says.
/// Returns the outcome for the table, or the problems found.
fn check(fault: Fault, msgs: &[Msg], got: &[Got], expect: Expect) -> Result<String, String> {
    let Expect {
        flags,
        strict_header,
        exact_verdict,
    } = expect;
    let mut problems = Vec::new();
    let mut used = vec![false; got.len()];
    let (mut junk, mut unchanged, mut flagged) = (0, 0, 0);
    for m in msgs {
        let hits: Vec<usize> = (0..got.len())
            .filter(|&i| env::split(&got[i].1).1 == m.body())
            .collect();
        let [i] = hits[..] else {
            problems.push(format!("{}: delivered {} times", m.name, hits.len()));
            continue;
        };
        used[i] = true;
        let (folder, bytes) = &got[i];
        let flag = env::spam_flag(bytes);
        let flag_spam = flag.as_deref() == Some("YES");
        if flag_spam {
            flagged += 1;
        }
        if folder == &Some(Folder::Junk) {
            junk += 1;
        }
        if bytes == &m.bytes {
            unchanged += 1;
        }
        let (head, _) = env::split(bytes);
        if strict_header
            && env::header_without_ours(head) != env::header_without_ours(env::split(&m.bytes).0)
        {
            problems.push(format!("{}: header changed beyond X-Spam-*", m.name));
        }
        if fault.unchanged() && flag.is_some() {
            problems.push(format!(
                "{}: has X-Spam-Flag although mailsift never answered",
                m.name
            ));
        }
        let spam = if flags {
            flag_spam
        } else {
            folder == &Some(Folder::Junk)
        };
        if flags && flag.is_none() && !fault.unchanged() {
            problems.push(format!("{}: no X-Spam-Flag", m.name));
        }
        if let Some(f) = folder {
            if flags && (*f == Folder::Junk) != flag_spam {
                problems.push(format!("{}: in {f:?} with X-Spam-Flag {flag:?}", m.name));
            }
            if fault.unchanged() && *f != Folder::Inbox {
                problems.push(format!(
                    "{}: in {f:?} although mailsift never answered",
                    m.name
                ));
            }
        }
        if fault.same_verdict() && flags && !exact_verdict {
            let bayes = field(bytes, "x-spam-bayes");
            if bayes.as_deref().is_none_or(|b| b == "0.5000") {
                problems.push(format!(
                    "{}: X-Spam-Bayes {bayes:?}: the database was not used",
                    m.name
                ));
            }
        }
        if fault.same_verdict() && exact_verdict && spam != m.verdict_spam {
            problems.push(format!(
                "{}: verdict {} where the database says {}",
                m.name,
                if spam { "spam" } else { "ham" },
                if m.verdict_spam { "spam" } else { "ham" }
            ));
        }
    }
    for (i, u) in used.iter().enumerate() {
        if !u {
            problems.push(format!(
                "an unexpected message was delivered ({} bytes)",
                got[i].1.len()
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let n = msgs.len();
    let mut out = if got.iter().any(|g| g.0.is_some()) {
        format!("{n}/{n} delivered, {junk} to Junk")
    } else {
        format!("{n}/{n} delivered, {flagged} flagged spam")
    };
    if unchanged == n {
        out.push_str(", unchanged");
    } else if fault.unchanged() {
        out.push_str(", unclassified, body unchanged");
    } else if fault.same_verdict() {
        out.push_str(", verdicts as trained");
    } else {
        out.push_str(", rules-only verdicts");
    }
    Ok(out)
}

/// Runs `deliver` for each message: in order for the clean run, all at once under a fault (a
/// stopped server costs each message half of classify's timeout).
fn deliver_all(
    msgs: &[Msg],
    parallel: bool,
    deliver: &(dyn Fn(&Msg) -> Result<(), String> + Sync),
) -> Vec<String> {
    if !parallel {
        return msgs.iter().filter_map(|m| deliver(m).err()).collect();
    }
    std::thread::scope(|s| {
        let hs: Vec<_> = msgs.iter().map(|m| s.spawn(move || deliver(m))).collect();
        hs.into_iter()
            .filter_map(|h| h.join().expect("delivery thread").err())
            .collect()
    })
}

/// The per-user MDAs that write into a Maildir under $HOME.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Local {
    Procmail,
    ProcmailExitCode,
    Maildrop,
    DovecotLda,
}

impl Local {
    fn name(self) -> &'static str {
        match self {
            Local::Procmail => "procmail",
            Local::ProcmailExitCode => "procmail --exit-code",
            Local::Maildrop => "maildrop",
            Local::DovecotLda => "Dovecot LDA + Sieve",
        }
    }

    fn program(self) -> Result<PathBuf, String> {
        match self {
            Local::Procmail | Local::ProcmailExitCode => {
                env::need(&["/usr/bin/procmail"], "procmail")
            }
            Local::Maildrop => env::need(&["/usr/bin/maildrop"], "maildrop"),
            Local::DovecotLda => {
                env::need(
                    &["/usr/lib/dovecot/modules/sieve/lib90_sieve_extprograms_plugin.so"],
                    "dovecot-sieve",
                )?;
                env::need(&["/usr/bin/sievec"], "dovecot-sieve")?;
                env::need(&["/usr/lib/dovecot/dovecot-lda"], "dovecot-core")
            }
        }
    }
}

/// `/usr/local/bin/mailsift` (as a command, not the reinject script's name) → `program`.
fn bin_sub(program: &Path) -> (&'static str, String) {
    (
        "/usr/local/bin/mailsift ",
        format!("{} ", program.display()),
    )
}

/// Writes a private Dovecot configuration in `dir` using recipes/dovecot with its install paths
/// replaced: the wrappers call `program`, mail lives in `homes`/USER/Maildir.
fn dovecot_setup(dir: &Path, program: &Path, homes: &Path, port: u16, user: &User) -> PathBuf {
    let subs = [
        (
            "/usr/lib/dovecot/sieve-filter",
            dir.join("sieve-filter").display().to_string(),
        ),
        (
            "/usr/lib/dovecot/sieve-pipe",
            dir.join("sieve-pipe").display().to_string(),
        ),
        (
            "/etc/dovecot/sieve",
            dir.join("sieve").display().to_string(),
        ),
    ];
    let conf = env::substitute(&env::recipe("dovecot/90-mailsift.conf"), &subs);
    env::write(&dir.join("90-mailsift.conf"), conf.as_bytes(), 0o644);
    for s in ["mailsift", "report-spam", "report-ham"] {
        let text = std::fs::read(env::recipe(&format!("dovecot/{s}.sieve"))).expect("read sieve");
        env::write(&dir.join(format!("sieve/{s}.sieve")), &text, 0o644);
    }
    dovecot_wrappers(dir, program);
    let d = dir.display();
    let main = format!(
        "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
         mail_location = maildir:~/Maildir\npostmaster_address = postmaster@example.org\n\
         protocols = imap\nlisten = 127.0.0.1\nssl = no\ndisable_plaintext_auth = no\n\
         auth_mechanisms = plain\n\
         passdb {{\n  driver = static\n  args = password=secret\n}}\n\
         userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={homes}/%u\n}}\n\
         default_internal_user = dovecot\ndefault_login_user = dovenull\n\
         service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n\
         \x20 inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
         namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
         !include {d}/90-mailsift.conf\n",
        uid = user.uid,
        gid = user.gid,
        homes = homes.display(),
    );
    let config = dir.join("dovecot.conf");
    env::write(&config, main.as_bytes(), 0o644);
    env::chmod(dir, 0o755);
    // Global scripts are compiled ahead: the delivering user cannot write beside them.
    for s in ["mailsift", "report-spam", "report-ham"] {
        let o = std::process::Command::new("/usr/bin/sievec")
            .arg("-c")
            .arg(&config)
            .arg(dir.join(format!("sieve/{s}.sieve")))
            .output()
            .expect("run sievec");
        assert!(
            o.status.success(),
            "sievec {s}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    config
}

/// (Re)writes the recipe's filter and pipe wrappers, calling `program`.
fn dovecot_wrappers(dir: &Path, program: &Path) {
    for w in [
        "sieve-filter/mailsift",
        "sieve-pipe/mailsift-learn-spam",
        "sieve-pipe/mailsift-learn-ham",
    ] {
        let text = env::substitute(&env::recipe(&format!("dovecot/{w}")), &[bin_sub(program)]);
        env::write(&dir.join(w), text.as_bytes(), 0o755);
    }
    env::chmod(&dir.join("sieve-filter"), 0o755);
    env::chmod(&dir.join("sieve-pipe"), 0o755);
}

/// Sets up one case of a local MDA and returns a function delivering one message.
fn local_case(
    kind: Local,
    mda: &Path,
    dir: &Path,
    home: &Path,
    program: &Path,
    user: &User,
) -> Deliver {
    let (mda, home, user, name) = (
        mda.to_path_buf(),
        home.to_path_buf(),
        user.clone(),
        user.name.clone(),
    );
    match kind {
        Local::Procmail | Local::ProcmailExitCode => {
            let file = if kind == Local::Procmail {
                "procmailrc"
            } else {
                "procmailrc-exit-code"
            };
            let rc = env::substitute(&env::recipe(file), &[bin_sub(program)]);
            env::write(&home.join(".procmailrc"), rc.as_bytes(), 0o644);
            // The recipe expects the user's Maildir to exist, as it does for anyone who gets mail.
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(home.join("Maildir").join(sub)).expect("mkdir Maildir");
            }
            user.own(&home);
            Box::new(move |m| {
                // procmail takes HOME from the password file; a command-line assignment moves it.
                let mut c = user.command(&mda);
                c.arg(format!("HOME={}", home.display()))
                    .arg(format!("LOGNAME={name}"))
                    .arg(home.join(".procmailrc"));
                expect_zero(&m.name, env::feed(c, &m.bytes))
            })
        }
        Local::Maildrop => {
            let rc = env::substitute(&env::recipe("mailfilter"), &[bin_sub(program)]);
            env::write(&home.join(".mailfilter"), rc.as_bytes(), 0o600);
            // maildrop takes HOME from the password file: a top filter sets it, then includes the
            // recipe unchanged.
            let top = dir.join("top-mailfilter");
            let text = format!(
                "HOME=\"{h}\"\ninclude \"{h}/.mailfilter\"\n",
                h = home.display()
            );
            env::write(&top, text.as_bytes(), 0o600);
            user.own(&home);
            user.own(&top);
            Box::new(move |m| {
                let mut c = user.command(&mda);
                c.env("LOGNAME", &name).arg(&top);
                expect_zero(&m.name, env::feed(c, &m.bytes))
            })
        }
        Local::DovecotLda => {
            let homes = home.parent().expect("homes").to_path_buf();
            let config = dovecot_setup(&dir.join("dovecot"), program, &homes, 1, &user);
            let log = dir.join("lda.log");
            env::write(&log, b"", 0o644);
            user.own(&log);
            user.own(&home);
            Box::new(move |m| {
                let mut c = user.command(&mda);
                c.env("USER", &name)
                    .env("HOME", &home)
                    .arg("-c")
                    .arg(&config)
                    .arg("-o")
                    .arg(format!("log_path={}", log.display()))
                    .args(["-f", "sender@example.org"]);
                expect_zero(&m.name, env::feed(c, &m.bytes))
            })
        }
    }
}

/// An MDA must exit 0: 75 would make the MTA defer the message, others bounce it.
fn expect_zero(name: &str, (code, err): (Option<i32>, String)) -> Result<(), String> {
    match code {
        Some(0) => Ok(()),
        _ => Err(format!("{name}: MDA exited {code:?}: {}", err.trim())),
    }
}

/// The whole run for one local MDA: the clean case and every fault.
fn run_local(kind: Local) {
    let mda = match kind.program() {
        Ok(p) => p,
        Err(skip) => return eprintln!("{}: {skip}", kind.name()),
    };
    let user = User::get();
    let scratch = Scratch::new("mda");
    env::chmod(&scratch.0, 0o755);
    let corpus = match Corpus::load(&scratch.0, &user) {
        Ok(c) => c,
        Err(skip) => return eprintln!("{}: {skip}", kind.name()),
    };
    let real = env::install_binary(&scratch.path("bin"));
    let mut row = vec![kind.name().to_owned()];
    let mut failures = Vec::new();
    for (i, fault) in Fault::ALL.into_iter().enumerate() {
        let dir = scratch.path(&format!("case{i}"));
        let home = dir.join("homes").join(&user.name);
        std::fs::create_dir_all(&home).expect("mkdir home");
        env::chmod(&dir, 0o755);
        env::chmod(&dir.join("homes"), 0o755);
        let db = home.join(".local/share/mailsift/mailsift.db");
        corpus.install_db(&db, &user);
        user.own(&home);
        let arranged = env::arrange(fault, &real, &dir.join("bin"), &db, &user);
        let deliver = local_case(kind, &mda, &dir, &home, &arranged.program, &user);
        let msgs = if fault == Fault::None {
            corpus.messages.clone()
        } else {
            corpus.few()
        };
        let started = Instant::now();
        let mut errors = deliver_all(&msgs, fault != Fault::None, &*deliver);
        drop(arranged);
        let got: Vec<Got> = env::delivered(&home.join("Maildir"))
            .into_iter()
            .map(|(f, _, b)| (Some(f), b))
            .collect();
        let expect = Expect {
            flags: kind != Local::ProcmailExitCode,
            strict_header: true,
            exact_verdict: true,
        };
        match check(fault, &msgs, &got, expect) {
            Ok(outcome) if errors.is_empty() => {
                eprintln!(
                    "{} / {}: {outcome} ({:.1}s)",
                    kind.name(),
                    fault.label(),
                    started.elapsed().as_secs_f64()
                );
                row.push(outcome);
            }
            Ok(_) => row.push("FAILED".into()),
            Err(e) => {
                errors.push(e);
                row.push("FAILED".into());
            }
        }
        if !errors.is_empty() {
            let log = std::fs::read_to_string(dir.join("lda.log")).unwrap_or_default();
            failures.push(format!(
                "{} / {}:\n{}\n{log}",
                kind.name(),
                fault.label(),
                errors.join("\n")
            ));
        }
    }
    println!("| {} |", row.join(" | "));
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn procmail_recipe_delivers_every_message() {
    run_local(Local::Procmail);
}

#[test]
fn procmail_exit_code_recipe_delivers_every_message() {
    run_local(Local::ProcmailExitCode);
}

#[test]
fn maildrop_recipe_delivers_every_message() {
    run_local(Local::Maildrop);
}

#[test]
fn dovecot_sieve_recipe_delivers_every_message() {
    run_local(Local::DovecotLda);
}

#[path = "mda_net.rs"]
mod net;

/// Every line the README's "Delivery recipes" section quotes in a code block (one without a
/// language tag) is a line of a file in recipes/: what users copy from the README is what these
/// tests run.
#[test]
fn readme_quotes_the_tested_recipe_files() {
    fn lines_under(dir: &Path, out: &mut std::collections::HashSet<String>) {
        for e in std::fs::read_dir(dir).expect("read recipes dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                lines_under(&p, out);
            } else {
                let text = std::fs::read_to_string(&p).expect("read recipe");
                out.extend(text.lines().map(str::to_owned));
            }
        }
    }
    let mut known = std::collections::HashSet::new();
    lines_under(&env::repo().join("recipes"), &mut known);
    let readme = std::fs::read_to_string(env::repo().join("README.md")).expect("read README");
    let start = readme
        .find("\n## Delivery recipes\n")
        .expect("the README has a Delivery recipes section");
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let (mut quoted, mut missing) = (0, Vec::new());
    let mut block: Option<bool> = None;
    for line in section.lines() {
        if let Some(fence) = line.strip_prefix("```") {
            block = match block {
                None => Some(fence.is_empty()),
                Some(_) => None,
            };
            continue;
        }
        if block == Some(true) && !line.trim().is_empty() {
            quoted += 1;
            if !known.contains(line) {
                missing.push(line);
            }
        }
    }
    assert!(quoted > 30, "the section quotes only {quoted} recipe lines");
    assert!(
        missing.is_empty(),
        "README lines not in any recipes/ file:\n{}",
        missing.join("\n")
    );
}
