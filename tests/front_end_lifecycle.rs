//! Every resident front end starts and stops the same way: `serve` (its own socket and its
//! spamd listeners) and `milter` refuse a database whose commits they could not see, and
//! SIGTERM or SIGINT removes every Unix socket they bound and closes their TCP listeners.

mod common;
mod postfix;
#[path = "faults/support.rs"]
mod support;

use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use postfix::free_port;
use support::{Server, as_nobody, database_only_root_writes};

/// Where a front end listens.
enum Addr {
    Unix(PathBuf),
    Tcp(u16),
}

impl Addr {
    fn answers(&self) -> bool {
        match self {
            Addr::Unix(p) => UnixStream::connect(p).is_ok(),
            Addr::Tcp(port) => TcpStream::connect(("127.0.0.1", *port)).is_ok(),
        }
    }
}

/// Waits until the front end answers on every address (or fails if it ends first).
fn wait_listening(server: &mut Server, addrs: &[&Addr]) {
    let started = Instant::now();
    while !addrs.iter().all(|a| a.answers()) {
        if let Some((status, err)) = server.wait_exit(Duration::ZERO) {
            panic!("it ended before listening ({status:?}): {err}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "did not start listening"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn sigterm_and_sigint_remove_every_unix_socket_and_close_tcp_listeners() {
    for signal in ["TERM", "INT"] {
        let s = Scratch::new("lifecycle-signal");
        let db = s.path("m.db");
        // serve: its own socket, a spamd Unix socket and a spamd TCP listener.
        let own = Addr::Unix(s.path("m.db.sock"));
        let spamd_unix = Addr::Unix(s.path("spamd.sock"));
        let port = free_port();
        let spamd_tcp = Addr::Tcp(port);
        let Addr::Unix(own_path) = &own else {
            unreachable!()
        };
        let Addr::Unix(spamd_path) = &spamd_unix else {
            unreachable!()
        };
        let tcp = format!("127.0.0.1:{port}");
        let mut serve = Server::spawn_args(
            cmd(&db),
            &[
                "serve",
                "--threads",
                "1",
                "--socket",
                path_str(own_path),
                "--listen-spamd",
                path_str(spamd_path),
                "--listen-spamd",
                &tcp,
            ],
        );
        wait_listening(&mut serve, &[&own, &spamd_unix, &spamd_tcp]);
        // milter, once on a Unix socket and once on TCP.
        let milter_unix = Addr::Unix(s.path("milter.sock"));
        let Addr::Unix(milter_path) = &milter_unix else {
            unreachable!()
        };
        let milter_port = free_port();
        let milter_tcp = Addr::Tcp(milter_port);
        let mut milters = Vec::new();
        for (listen, addr) in [
            (format!("unix:{}", path_str(milter_path)), &milter_unix),
            (format!("127.0.0.1:{milter_port}"), &milter_tcp),
        ] {
            let mut m =
                Server::spawn_args(cmd(&db), &["milter", "--threads", "1", "--listen", &listen]);
            wait_listening(&mut m, &[addr]);
            milters.push(m);
        }
        for (name, mut r) in std::iter::once(("serve", serve)).chain(
            milters
                .into_iter()
                .enumerate()
                .map(|(i, m)| (["milter unix", "milter tcp"][i], m)),
        ) {
            r.signal(signal);
            let Some((status, err)) = r.wait_exit(Duration::from_secs(20)) else {
                panic!("SIG{signal} did not stop {name}");
            };
            assert!(!status.success(), "{name} SIG{signal}: {status:?} {err}");
        }
        for (what, p) in [
            ("serve's socket", own_path),
            ("the spamd socket", spamd_path),
            ("the milter socket", milter_path),
        ] {
            assert!(!p.exists(), "SIG{signal} left {what} behind");
        }
        for (what, a) in [("spamd", &spamd_tcp), ("milter", &milter_tcp)] {
            assert!(
                !a.answers(),
                "SIG{signal}: the {what} TCP port still answers"
            );
        }
    }
}

#[test]
fn every_resident_front_end_refuses_a_database_whose_commits_it_cannot_see() {
    let s = Scratch::new("lifecycle-readonly-dir");
    // A database in a directory only its owner (root) can write; the front ends run as nobody.
    let (db, run_dir) = database_only_root_writes(&s);
    let serve_socket = run_dir.join("m.sock");
    let spamd_socket = run_dir.join("spamd.sock");
    let milter_socket = run_dir.join("milter.sock");
    let milter_listen = format!("unix:{}", path_str(&milter_socket));
    let front_ends: [(&str, Vec<&str>); 2] = [
        (
            "serve with spamd",
            vec![
                "serve",
                "--socket",
                path_str(&serve_socket),
                "--listen-spamd",
                path_str(&spamd_socket),
            ],
        ),
        ("milter", vec!["milter", "--listen", &milter_listen]),
    ];
    for (name, args) in front_ends {
        let Some(c) = as_nobody(&db) else { return };
        let mut r = Server::spawn_args(c, &args);
        let Some((status, err)) = r.wait_exit(Duration::from_secs(30)) else {
            panic!("{name} as a user who cannot write the database directory must refuse to start");
        };
        assert!(!status.success(), "{name}: {status:?}");
        assert!(
            err.contains("cannot write the database's directory") && err.contains("stale"),
            "{name}: stderr must say why: {err}"
        );
    }
    for p in [&serve_socket, &spamd_socket, &milter_socket] {
        assert!(!p.exists(), "{} was created", p.display());
    }
}
