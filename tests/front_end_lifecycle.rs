//! Every resident front end starts and stops the same way: `serve` (its own socket and its
//! spamd listeners) and `milter` refuse a database whose commits they could not see, and
//! SIGTERM or SIGINT removes every Unix socket they bound and closes their TCP listeners.

mod common;
#[path = "faults/support.rs"]
mod support;

use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::*;
use support::{NOBODY, as_nobody};

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

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// A front end process started by a test, killed when dropped.
struct Resident(Child);

impl Resident {
    fn spawn(mut c: Command, args: &[&str]) -> Resident {
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        Resident(c.spawn().expect("spawn mailsift"))
    }

    fn wait_listening(&mut self, addrs: &[&Addr]) {
        let started = Instant::now();
        while !addrs.iter().all(|a| a.answers()) {
            if let Some((status, err)) = self.wait_exit(Duration::ZERO) {
                panic!("it ended before listening ({status:?}): {err}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.0.id().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// Waits up to `limit` for the process to end: its status and stderr, or `None`.
    fn wait_exit(&mut self, limit: Duration) -> Option<(ExitStatus, String)> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.0.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.0.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return Some((status, err));
            }
            if started.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Resident {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
        let mut serve = Resident::spawn(
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
        serve.wait_listening(&[&own, &spamd_unix, &spamd_tcp]);
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
                Resident::spawn(cmd(&db), &["milter", "--threads", "1", "--listen", &listen]);
            m.wait_listening(&[addr]);
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
    std::fs::set_permissions(&s.0, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // A database in a directory only its owner (root) can write; the front ends run as nobody.
    let dir = s.path("site");
    std::fs::create_dir(&dir).expect("mkdir");
    let db = dir.join("m.db");
    let o = run(
        &db,
        &[
            "train",
            "ham",
            path_str(&write_messages(&s.path("ham"), false, 0..3)[0]),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "train: {}", stderr(&o));
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // Sockets where nobody may create them.
    let run_dir = s.path("run");
    std::fs::create_dir(&run_dir).expect("mkdir");
    std::os::unix::fs::chown(&run_dir, Some(NOBODY), Some(NOBODY)).ok();
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
        let mut r = Resident::spawn(c, &args);
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
