//! The classify server (`mailsift serve`) and classify's use of it: the same bytes as
//! in-process classification, and a fall-back to in-process whenever the server cannot serve.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Scratch, classify, cmd, run, stderr, synthetic, trained_db, write_messages};

/// A running `mailsift serve`, killed when dropped.
struct Server {
    child: Child,
    socket: PathBuf,
}

impl Server {
    fn start(db: &Path, extra: &[&str]) -> Server {
        let socket = PathBuf::from(format!("{}.sock", db.display()));
        Self::start_at(db, &socket, extra)
    }

    fn start_at(db: &Path, socket: &Path, extra: &[&str]) -> Server {
        let mut c = cmd(db);
        c.arg("serve")
            .arg("--socket")
            .arg(socket)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = c.spawn().expect("spawn mailsift serve");
        let server = Server {
            child,
            socket: socket.to_owned(),
        };
        server.wait_listening();
        server
    }

    fn wait_listening(&self) {
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "server did not start listening on {}",
                self.socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn samples() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = (100..104)
        .flat_map(|i| [synthetic(true, i), synthetic(false, i)])
        .collect();
    // Not a message at all, and an empty one: passed through the same way either path.
    v.push(b"no header block here".to_vec());
    v.push(Vec::new());
    v
}

#[test]
fn server_answers_with_the_in_process_bytes() {
    let s = Scratch::new("serve-same");
    let db = trained_db(&s, 20);
    let server = Server::start(&db, &[]);
    let sock = server.socket.to_str().expect("utf-8");
    for (i, m) in samples().iter().enumerate() {
        // With --socket, a server that cannot answer is reported on stderr: a clean stderr
        // proves the server classified the message.
        let remote = classify(&db, &["--socket", sock, "--exit-code"], m);
        let local = classify(&db, &["--no-server", "--exit-code"], m);
        assert_eq!(stderr(&remote), "", "sample {i}: the server did not answer");
        assert_eq!(remote.stdout, local.stdout, "sample {i}: bytes differ");
        assert_eq!(remote.status.code(), local.status.code(), "sample {i}");
        common::assert_annotated(&format!("sample {i}"), m, &remote.stdout);
    }
    // The default socket (the database path + ".sock") is found without --socket; spam gets
    // exit 1 with --exit-code either way.
    let spam = synthetic(true, 200);
    let o = classify(&db, &["--exit-code"], &spam);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    // Per-user classification goes through the server too (the user has no model: site only).
    let o = classify(&db, &["--socket", sock, "--user", "alice"], &spam);
    let l = classify(&db, &["--no-server", "--user", "alice"], &spam);
    assert_eq!(stderr(&o), "");
    assert_eq!(o.stdout, l.stdout);
}

#[test]
fn concurrent_clients_all_get_their_own_message() {
    let s = Scratch::new("serve-conc");
    let db = trained_db(&s, 20);
    let _server = Server::start(&db, &["--threads", "2"]);
    let handles: Vec<_> = (0..8)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                for i in 0..5 {
                    let m = synthetic((t + i) % 2 == 0, 300 + t * 10 + i);
                    let remote = classify(&db, &[], &m);
                    let local = classify(&db, &["--no-server"], &m);
                    assert_eq!(stderr(&remote), "");
                    assert_eq!(remote.stdout, local.stdout, "thread {t} message {i}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
}

#[test]
fn falls_back_to_in_process_when_the_server_cannot_serve() {
    let s = Scratch::new("serve-fallback");
    let db = trained_db(&s, 20);
    let m = synthetic(true, 400);
    let local = classify(&db, &["--no-server"], &m);
    assert!(local.status.success());

    // Another configuration than the server's: classified in-process with the client's.
    let mut server = Server::start(&db, &[]);
    let cfg = s.path("other.toml");
    std::fs::write(&cfg, "subject_tag = \"[SPAM]\"\n").expect("config");
    let cfg = cfg.to_str().expect("utf-8");
    let o = classify(&db, &["--config", cfg], &m);
    let want = classify(&db, &["--config", cfg, "--no-server"], &m);
    assert!(o.status.success());
    assert_eq!(o.stdout, want.stdout);
    assert!(common::contains(&o.stdout, b"Subject: [SPAM]"));
    let err = stderr(&o);
    assert!(
        err.contains("configuration differs") && err.contains("classifying in-process"),
        "{err}"
    );

    // Another database than the server's (a copy of the same file): in-process.
    let copy = s.path("copy.db");
    std::fs::copy(&db, &copy).expect("copy db");
    let sock = server.socket.to_str().expect("utf-8").to_owned();
    let o = classify(&copy, &["--socket", &sock], &m);
    assert!(o.status.success());
    assert_eq!(o.stdout, local.stdout);
    assert!(
        stderr(&o).contains("it serves the database"),
        "{}",
        stderr(&o)
    );

    // A second server on the same socket is refused while the first listens.
    let o = run(&db, &["serve", "--socket", &sock]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("already listening"), "{}", stderr(&o));

    // The server dies and leaves its socket file: reported, classified in-process, exit 0.
    server.kill();
    assert!(server.socket.exists(), "a killed server leaves its socket");
    let o = classify(&db, &[], &m);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, local.stdout);
    assert!(
        stderr(&o).contains("no server is listening"),
        "{}",
        stderr(&o)
    );

    // A new server replaces the stale socket file.
    let _server = Server::start(&db, &[]);
    let o = classify(&db, &[], &m);
    assert_eq!(stderr(&o), "");
    assert_eq!(o.stdout, local.stdout);

    // An explicit socket that does not exist is reported; the default one is silent.
    let o = classify(&db, &["--socket", "/nonexistent/mailsift.sock"], &m);
    assert_eq!(o.stdout, local.stdout);
    assert!(
        stderr(&o).contains("/nonexistent/mailsift.sock"),
        "{}",
        stderr(&o)
    );
    let o = classify(&copy, &[], &m);
    assert_eq!(stderr(&o), "");
}

#[test]
fn server_sees_training_and_a_replaced_database() {
    let s = Scratch::new("serve-fresh");
    let db = trained_db(&s, 20);
    // One worker, so the requests below share one connection and its token cache.
    let _server = Server::start(&db, &["--threads", "1"]);
    let m = synthetic(false, 500);
    let before = classify(&db, &[], &m);
    assert_eq!(stderr(&before), "");
    // Training after the server started: the server's answer follows the database.
    let more = write_messages(&s.path("more"), true, 500..530);
    let mut args = vec!["train", "spam"];
    args.extend(more.iter().map(|p| p.to_str().expect("utf-8")));
    assert!(run(&db, &args).status.success());
    let after = classify(&db, &[], &m);
    let local = classify(&db, &["--no-server"], &m);
    assert_eq!(stderr(&after), "");
    assert_eq!(after.stdout, local.stdout);
    assert_ne!(
        after.stdout, before.stdout,
        "training changed the verdict's figures"
    );

    // The database file replaced by another (restore from elsewhere, or rm + retrain).
    let other = Scratch::new("serve-other");
    let fresh = trained_db(&other, 20);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    std::fs::copy(&fresh, &db).expect("replace db");
    let o = classify(&db, &[], &m);
    let l = classify(&db, &["--no-server"], &m);
    assert_eq!(stderr(&o), "");
    assert_eq!(o.stdout, l.stdout);
}

#[test]
fn server_without_a_database_classifies_by_rules_like_classify() {
    let s = Scratch::new("serve-nodb");
    let db = s.path("never-trained.db");
    let _server = Server::start(&db, &[]);
    let m = synthetic(true, 600);
    let o = classify(&db, &[], &m);
    let l = classify(&db, &["--no-server"], &m);
    assert!(o.status.success());
    assert_eq!(stderr(&o), "");
    assert_eq!(o.stdout, l.stdout);
    assert!(!db.exists(), "classify never creates the database");
}

#[test]
fn serve_reports_bad_arguments() {
    let s = Scratch::new("serve-args");
    let db = s.path("m.db");
    let o = run(&db, &["serve", "--socket-mode", "999"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("octal"), "{}", stderr(&o));
    let file = s.path("plain-file");
    std::fs::write(&file, b"x").expect("write");
    let o = run(&db, &["serve", "--socket", file.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("is not a socket"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&file).expect("kept"),
        b"x",
        "never removes a non-socket"
    );
}

#[test]
fn socket_permissions_follow_socket_mode() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new("serve-mode");
    let db = trained_db(&s, 20);
    let server = Server::start(&db, &["--socket-mode", "660"]);
    let mode = std::fs::metadata(&server.socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660);
}

#[test]
fn a_server_that_does_not_answer_costs_half_the_timeout_then_in_process() {
    let s = Scratch::new("serve-stuck");
    let db = trained_db(&s, 20);
    // A "server" that accepts and never answers.
    let sock = s.path("stuck.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).expect("bind");
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().take(1) {
            held.push(c.expect("accept"));
            std::thread::sleep(Duration::from_secs(4));
        }
    });
    let m = synthetic(true, 700);
    let started = Instant::now();
    let o = classify(
        &db,
        &["--socket", sock.to_str().expect("utf-8"), "--timeout", "2"],
        &m,
    );
    let took = started.elapsed();
    let local = classify(&db, &["--no-server"], &m);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, local.stdout, "classified in-process");
    assert!(
        stderr(&o).contains("no answer within 1.0 s"),
        "{}",
        stderr(&o)
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "waited {took:?}"
    );
    holder.join().expect("holder");
}

#[test]
fn garbage_and_probes_do_not_stop_the_server() {
    use std::io::{Read, Write};
    let s = Scratch::new("serve-garbage");
    let db = trained_db(&s, 20);
    let server = Server::start(&db, &["--threads", "1"]);
    let sock = server.socket.clone();
    let m = synthetic(false, 800);
    let local = classify(&db, &["--no-server"], &m);
    let attempts: [&[u8]; 5] = [
        b"",                                            // a probe: connect and close
        b"GET / HTTP/1.0\r\n\r\n",                      // not our protocol
        b"MSIFT2 q\xff\xff\xff\xff\xff\xff\xff\x7f",    // a huge length
        b"MSIFT2 q\x04\x00\x00\x00\x00\x00\x00\x00/tm", // truncated
        b"MSIFT2 q",                                    // magic only
    ];
    for bytes in attempts {
        let mut c = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
        c.write_all(bytes).expect("write");
        c.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut answer = Vec::new();
        let _ = c.read_to_end(&mut answer);
        assert!(answer.is_empty(), "no answer to {bytes:?}");
        // The next real client is served.
        let o = classify(&db, &["--socket", sock.to_str().expect("utf-8")], &m);
        assert_eq!(stderr(&o), "", "after {bytes:?}");
        assert_eq!(o.stdout, local.stdout);
    }
}

#[test]
fn a_socket_planted_by_another_user_is_not_trusted() {
    // Needs root to give the socket to another user; the suite runs as root in CI.
    if !common::is_root() {
        eprintln!("skipped: needs root to chown the socket");
        return;
    }
    let s = Scratch::new("serve-planted");
    let db = trained_db(&s, 20);
    let server = Server::start(&db, &[]);
    let m = synthetic(true, 900);
    let local = classify(&db, &["--no-server"], &m);
    let nobody = std::process::Command::new("chown")
        .arg("65534")
        .arg(&server.socket)
        .status()
        .expect("chown");
    assert!(nobody.success());
    let o = classify(&db, &[], &m);
    assert!(o.status.success());
    assert_eq!(o.stdout, local.stdout, "classified in-process");
    assert!(stderr(&o).contains("not trusted"), "{}", stderr(&o));
    // Owned by the database's owner again: used.
    let back = std::process::Command::new("chown")
        .arg("0")
        .arg(&server.socket)
        .status()
        .expect("chown");
    assert!(back.success());
    let o = classify(&db, &[], &m);
    assert_eq!(stderr(&o), "");
}
