//! The recipes that need a running server: the Postfix content filter (recipes/postfix) through
//! a private Postfix, and IMAPSieve retraining (recipes/dovecot) through a private Dovecot.
//! Part of tests/mda.rs.

use super::*;

/// The reinject script of one case, calling `program` on `db`; the sendmail it calls is the real
/// /usr/sbin/sendmail (MAIL_CONFIG, set by the private Postfix, points it at that instance).
fn reinject_script(path: &Path, program: &Path, db: &Path) {
    let text = env::substitute(
        &env::recipe("postfix/mailsift-reinject"),
        &[
            (
                "MAILSIFT=/usr/local/bin/mailsift\n",
                format!("MAILSIFT={}\n", program.display()),
            ),
            (
                "MAILSIFT_DB=/var/lib/mailsift/site.db",
                format!("MAILSIFT_DB={}", db.display()),
            ),
        ],
    );
    env::write(path, text.as_bytes(), 0o755);
}

#[test]
fn postfix_reinject_recipe_delivers_every_message() {
    if let Err(skip) = env::need(&["/usr/sbin/postfix"], "postfix") {
        return eprintln!("Postfix: {skip}");
    }
    let user = User::get();
    let scratch = Scratch::new("postfix");
    env::chmod(&scratch.0, 0o755);
    let corpus = match Corpus::load(&scratch.0, &user) {
        Ok(c) => c,
        Err(skip) => return eprintln!("Postfix: {skip}"),
    };
    let real = env::install_binary(&scratch.path("bin"));
    let mut routes = Vec::new();
    let mut arranged = Vec::new();
    for (i, fault) in Fault::ALL.into_iter().enumerate() {
        let dir = scratch.path(&format!("case{i}"));
        std::fs::create_dir_all(&dir).expect("mkdir case");
        env::chmod(&dir, 0o755);
        let db = dir.join("db/site.db");
        corpus.install_db(&db, &user);
        let a = env::arrange(fault, &real, &dir.join("bin"), &db, &user);
        let script = dir.join("mailsift-reinject");
        reinject_script(&script, &a.program, &db);
        routes.push((format!("c{i}"), script));
        arranged.push(a);
    }
    let pf = match Postfix::start(&scratch.path("postfix"), &user, &routes) {
        Ok(pf) => pf,
        Err(e) if e.starts_with("SKIP") => return eprintln!("Postfix: {e}"),
        Err(e) => panic!("{e}"),
    };
    let started = Instant::now();
    let cases: Vec<(Fault, Vec<Msg>)> = Fault::ALL
        .into_iter()
        .map(|f| {
            (
                f,
                if f == Fault::None {
                    corpus.messages.clone()
                } else {
                    corpus.few()
                },
            )
        })
        .collect();
    let mut failures = Vec::new();
    for ((fault, msgs), route) in cases.iter().zip(&pf.routes) {
        let send = |m: &Msg| {
            smtp_send(
                route.port,
                &format!("{}@{}", m.name, route.domain),
                &m.bytes,
            )
            .map_err(|e| format!("{}: SMTP: {e}", m.name))
        };
        failures.extend(
            deliver_all(msgs, false, &send)
                .into_iter()
                .map(|e| format!("{}: {e}", fault.label())),
        );
    }
    // Delivery is asynchronous: wait (bounded) until every route's Maildir has its messages.
    let want: usize = cases.iter().map(|(_, m)| m.len()).sum();
    let deadline = Instant::now() + Duration::from_secs(120);
    let count = || {
        pf.routes
            .iter()
            .map(|r| env::delivered(&r.maildir).len())
            .sum::<usize>()
    };
    while count() < want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let elapsed = started.elapsed();
    drop(arranged);
    let log = pf.log();
    let mut row = vec!["Postfix `mailsift-reinject`".to_owned()];
    for ((fault, msgs), route) in cases.iter().zip(&pf.routes) {
        let got: Vec<Got> = env::delivered(&route.maildir)
            .into_iter()
            .map(|(_, _, b)| (None, b))
            .collect();
        let deferred = log
            .lines()
            .filter(|l| l.contains(&format!("@{}>", route.domain)) && !l.contains("status=sent"))
            .filter(|l| l.contains("status="))
            .count();
        let expect = Expect {
            flags: true,
            strict_header: false,
            exact_verdict: false,
        };
        match check(*fault, msgs, &got, expect) {
            Ok(outcome) if deferred == 0 => row.push(outcome),
            Ok(_) => {
                failures.push(format!(
                    "{}: {deferred} deliveries deferred or bounced",
                    fault.label()
                ));
                row.push("FAILED".into());
            }
            Err(e) => {
                failures.push(format!("{}:\n{e}", fault.label()));
                row.push("FAILED".into());
            }
        }
    }
    eprintln!(
        "Postfix: {want} messages through 6 routes in {:.1}s",
        elapsed.as_secs_f64()
    );
    println!("| {} |", row.join(" | "));
    let log_tail: Vec<&str> = log.lines().filter(|l| !l.contains("status=sent")).collect();
    assert!(
        failures.is_empty(),
        "{}\nmaillog (without successful deliveries, last 60 lines):\n{}",
        failures.join("\n\n"),
        log_tail[log_tail.len().saturating_sub(60)..].join("\n")
    );
}

/// The user's (spam, ham) counts in `db`.
fn user_counts(db: &Path, user: &str) -> (u64, u64) {
    let o = env::mailsift(db)
        .args(["--user", user, "stats"])
        .output()
        .expect("run stats");
    assert!(
        o.status.success(),
        "stats: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    common::stats_rows(&out)
        .into_iter()
        .find(|r| r.0 == user)
        .map_or((0, 0), |r| (r.1, r.2))
}

/// Moves the first message of `from` to `to` over IMAP; returns how many each then holds.
fn move_one(imap: &mut Imap, from: &str, to: &str) -> Result<(usize, usize), String> {
    imap.run(&format!("SELECT {from}"))?;
    let uid = *imap
        .uids()?
        .first()
        .ok_or_else(|| format!("{from} is empty"))?;
    imap.run(&format!("UID MOVE {uid} {to}"))?;
    let n_from = imap.uids()?.len();
    imap.run(&format!("SELECT {to}"))?;
    let n_to = imap.uids()?.len();
    Ok((n_from, n_to))
}

#[test]
fn imapsieve_recipe_retrains_on_moves() {
    for (p, pkg) in [
        ("/usr/sbin/dovecot", "dovecot-core"),
        ("/usr/lib/dovecot/imap", "dovecot-imapd"),
        (
            "/usr/lib/dovecot/modules/sieve/lib90_sieve_imapsieve_plugin.so",
            "dovecot-sieve",
        ),
    ] {
        if let Err(skip) = env::need(&[p], pkg) {
            return eprintln!("IMAPSieve: {skip}");
        }
    }
    let user = User::get();
    if !user.switch {
        return eprintln!("IMAPSieve: SKIP: a private dovecot needs root (it drops to its users)");
    }
    let scratch = Scratch::new("imapsieve");
    env::chmod(&scratch.0, 0o755);
    let corpus = match Corpus::load(&scratch.0, &user) {
        Ok(c) => c,
        Err(skip) => return eprintln!("IMAPSieve: {skip}"),
    };
    let real = env::install_binary(&scratch.path("bin"));
    let dir = scratch.path("dovecot");
    let homes = scratch.path("homes");
    let home = homes.join(&user.name);
    std::fs::create_dir_all(&home).expect("mkdir home");
    env::chmod(&homes, 0o755);
    let db = home.join(".local/share/mailsift/mailsift.db");
    corpus.install_db(&db, &user);
    user.own(&home);
    let port = env::servers::free_port();
    let config = dovecot_setup(&dir, &real, &homes, port, &user);
    // Fill INBOX and Junk through the delivery recipe (dovecot-lda), as the user.
    let spam = corpus.messages.iter().filter(|m| m.verdict_spam).take(5);
    let ham = corpus.messages.iter().filter(|m| !m.verdict_spam).take(5);
    for m in spam.chain(ham) {
        let mut c = user.command("/usr/lib/dovecot/dovecot-lda");
        c.env("USER", &user.name)
            .env("HOME", &home)
            .arg("-c")
            .arg(&config);
        c.arg("-o")
            .arg(format!("log_path={}", dir.join("lda.log").display()));
        let log = dir.join("lda.log");
        if !log.exists() {
            env::write(&log, b"", 0o644);
            user.own(&log);
        }
        if let Err(e) = expect_zero(&m.name, env::feed(c, &m.bytes)) {
            panic!("dovecot-lda: {e}");
        }
    }
    let dovecot = Dovecot::start(&dir, &config, port).unwrap_or_else(|e| panic!("{e}"));
    let mut imap = Imap::login(port, &user.name, "secret").expect("IMAP login");
    imap.run("CREATE Trash").expect("create Trash");

    let mut row = vec!["IMAPSieve retraining".to_owned()];
    let mut failures = Vec::new();
    // The clean case: two moves into Junk (spam), two out of it (ham), one to Trash (nothing).
    let before = user_counts(&db, &user.name);
    fn step(imap: &mut Imap, from: &str, to: &str) -> Result<(usize, usize), String> {
        move_one(imap, from, to).map_err(|e| format!("MOVE {from} -> {to}: {e}"))
    }
    let moves = [
        ("INBOX", "Junk"),
        ("INBOX", "Junk"),
        ("Junk", "INBOX"),
        ("Junk", "INBOX"),
        ("Junk", "Trash"),
    ];
    for (from, to) in moves {
        if let Err(e) = step(&mut imap, from, to) {
            failures.push(e);
        }
    }
    let moved = user_counts(&db, &user.name);
    // A message appended to Junk (a client saving into it) is spam too.
    let appended = corpus
        .messages
        .iter()
        .rfind(|m| !m.verdict_spam)
        .expect("a ham message");
    if let Err(e) = imap.append("Junk", &appended.bytes) {
        failures.push(e);
    }
    let after = user_counts(&db, &user.name);
    if (moved.0 - before.0, moved.1 - before.1, after.0 - moved.0) == (2, 2, 1) {
        row.push(
            "2 moves in: spam +2; 2 out: ham +2; to Trash: nothing; APPEND to Junk: spam +1".into(),
        );
    } else {
        failures.push(format!(
            "counts went from {before:?} to {moved:?} after the moves, {after:?} after APPEND; \
             want +2 spam, +2 ham, then +1 spam"
        ));
        row.push("FAILED".into());
    }
    // Faults: the move must still succeed (retraining is lost, the message never is).
    for fault in [
        Fault::Missing,
        Fault::Killed,
        Fault::UnreadableDbDir,
        Fault::CorruptDb,
    ] {
        let bin = scratch.path(&format!("fault-bin-{fault:?}"));
        let program = match fault {
            Fault::Missing => bin.join("mailsift"),
            Fault::Killed => {
                let p = bin.join("mailsift");
                env::write(
                    &p,
                    b"#!/bin/sh\nhead -c 100 >/dev/null\nkill -KILL $$\n",
                    0o755,
                );
                p
            }
            Fault::UnreadableDbDir => {
                env::chmod(db.parent().expect("db dir"), 0o000);
                real.clone()
            }
            _ => {
                std::fs::write(&db, b"not a database".repeat(300)).expect("corrupt db");
                real.clone()
            }
        };
        env::chmod(&scratch.0, 0o755);
        std::fs::create_dir_all(&bin).expect("mkdir");
        env::chmod(&bin, 0o755);
        dovecot_wrappers(&dir, &program);
        let before = (
            step(&mut imap, "INBOX", "Junk"),
            step(&mut imap, "Junk", "INBOX"),
        );
        if fault == Fault::UnreadableDbDir {
            env::chmod(db.parent().expect("db dir"), 0o755);
        }
        match before {
            (Ok(_), Ok(_)) => row.push("moves done, not learned".into()),
            (a, b) => {
                failures.push(format!("{}: {a:?} {b:?}", fault.label()));
                row.push("FAILED".into());
            }
        }
        if fault != Fault::CorruptDb && user_counts(&db, &user.name) != after {
            failures.push(format!("{}: counts changed", fault.label()));
        }
    }
    drop(imap);
    drop(dovecot);
    println!("| {} |", row.join(" | "));
    assert!(
        failures.is_empty(),
        "{}\ndovecot log:\n{}",
        failures.join("\n"),
        std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
    );
}
