//! Helpers for the delivery-fault tests (issue #10): servers real and fake, and running the
//! binary as another user.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::cmd;

/// The unprivileged user the tests run the binary as (when they run as root).
pub const NOBODY: u32 = 65534;

/// `setpriv` runs a command as another user; `None` (with a message) when the test cannot.
pub fn as_nobody(db: &Path) -> Option<Command> {
    if !crate::common::is_root() {
        eprintln!("skipped: needs root to run mailsift as another user");
        return None;
    }
    if !Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: setpriv (util-linux) is not installed");
        return None;
    }
    if !others_can_run(Path::new(crate::common::bin())) {
        eprintln!("skipped: other users cannot run the test binary where it was built");
        return None;
    }
    let mut c = Command::new("/usr/bin/setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ])
    .arg(crate::common::bin())
    .env_remove("MAILSIFT_DB")
    .env_remove("MAILSIFT_USER")
    .env_remove("MAILSIFT_DEBUG_FAULT")
    .env_remove("MAILSIFT_SOCKET")
    .env("XDG_CONFIG_HOME", "/nonexistent-mailsift-test")
    .arg("--db")
    .arg(db);
    Some(c)
}

/// Whether a user other than the owner can execute `bin`: it and every directory above it
/// allow others to execute (search).
pub fn others_can_run(bin: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    bin.ancestors().all(|p| {
        p.as_os_str().is_empty()
            || std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0)
    })
}

/// A resident `mailsift` (`serve`, `milter`) started by a test, killed when dropped.
pub struct Server {
    pub child: Child,
    /// The private socket of a `serve` (empty for other front ends).
    pub socket: PathBuf,
}

impl Server {
    /// Starts `c` (a `mailsift --db ... ` command) as `serve --socket SOCKET`, without
    /// waiting for it to listen.
    pub fn spawn(mut c: Command, socket: &Path) -> Server {
        c.arg("serve").arg("--socket").arg(socket);
        let mut server = Server::spawn_args(c, &[]);
        server.socket = socket.to_owned();
        server
    }

    /// Starts `c` with `args` (any resident command), without waiting for it to listen.
    pub fn spawn_args(mut c: Command, args: &[&str]) -> Server {
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = c.spawn().expect("spawn mailsift");
        Server {
            child,
            socket: PathBuf::new(),
        }
    }

    /// Starts a server on `db` as this user and waits until it listens.
    pub fn start(db: &Path, socket: &Path) -> Server {
        let server = Server::spawn(cmd(db), socket);
        server.wait_listening();
        server
    }

    pub fn wait_listening(&self) {
        let started = Instant::now();
        while UnixStream::connect(&self.socket).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "server did not start listening on {}",
                self.socket.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `limit` for the process to end; its exit status and stderr, or `None`
    /// (a zero `limit` looks once).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<(std::process::ExitStatus, String)> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
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

    /// Sends a signal to the server (by its PID).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A classify server's response, as the wire protocol encodes it (cli/src/wire.rs):
/// `MSIFT1 r`, status 0 (done), the spam byte, the warning field (empty) and the output.
pub fn done_response(output: &[u8]) -> Vec<u8> {
    let mut r = b"MSIFT1 r".to_vec();
    r.push(0);
    r.push(0);
    r.extend_from_slice(&0u64.to_le_bytes());
    r.extend_from_slice(&(output.len() as u64).to_le_bytes());
    r.extend_from_slice(output);
    r
}

/// A fake server on `socket`: calls `answer` with the stream of each of up to `connections`
/// clients (see [`read_request`]). Runs on a thread; stops after `connections` or
/// when `limit` has passed since it started.
pub fn fake_server(
    socket: &Path,
    connections: usize,
    limit: Duration,
    answer: impl Fn(&mut UnixStream) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket).expect("bind fake server");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let started = Instant::now();
        let mut served = 0;
        while served < connections && started.elapsed() < limit {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    served += 1;
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    answer(&mut stream);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    })
}

/// Reads one request: magic, db, user, fingerprint, message.
pub fn read_request(stream: &mut UnixStream) {
    let mut magic = [0u8; 8];
    if stream.read_exact(&mut magic).is_err() {
        return;
    }
    for field in 0..3 {
        if field == 2 {
            let mut fp = [0u8; 8];
            let _ = stream.read_exact(&mut fp);
        }
        let mut len = [0u8; 8];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let len = u64::from_le_bytes(len);
        let _ = std::io::copy(&mut (&mut *stream).take(len), &mut std::io::sink());
    }
}

/// Writes `bytes` one at a time, `gap` apart, for at most `limit`.
pub fn trickle(stream: &mut UnixStream, bytes: &[u8], gap: Duration, limit: Duration) {
    let started = Instant::now();
    for b in bytes {
        if started.elapsed() > limit || stream.write_all(&[*b]).is_err() {
            return;
        }
        std::thread::sleep(gap);
    }
}

/// A trained database in a directory only root (its owner) can write, for front ends run
/// [`as_nobody`]: they cannot see what training commits there. Also a directory nobody may
/// create sockets in. Returns (database, socket directory).
pub fn database_only_root_writes(s: &crate::common::Scratch) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&s.0, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let dir = s.path("site");
    std::fs::create_dir(&dir).expect("mkdir");
    let db = dir.join("m.db");
    for (class, spam) in [("ham", false), ("spam", true)] {
        let files = crate::common::write_messages(&s.path(class), spam, 0..5);
        let mut args = vec!["train", class];
        args.extend(files.iter().map(|p| p.to_str().expect("utf-8")));
        let o = crate::common::run(&db, &args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "train: {}",
            crate::common::stderr(&o)
        );
    }
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let run_dir = s.path("run");
    std::fs::create_dir(&run_dir).expect("mkdir");
    std::os::unix::fs::chown(&run_dir, Some(NOBODY), Some(NOBODY)).ok();
    (db, run_dir)
}
