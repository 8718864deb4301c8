//! A private `redis-server` for tests: on a free loopback port and a Unix socket in its own
//! temporary directory, persistence off, stopped by PID when dropped. Shared by the library's
//! unit tests and the integration tests (included with `#[path]`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The program, or `None` (with the reason printed) when it is not installed.
pub fn redis_server_program() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("redis-server"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        eprintln!(
            "skipping the Redis backend: redis-server is not installed (run scripts/install-test-deps)"
        );
    }
    found
}

/// A running private server.
pub struct RedisServer {
    child: Child,
    dir: PathBuf,
    program: PathBuf,
    extra: Vec<String>,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
}

impl RedisServer {
    /// Starts a server, or returns `None` when redis-server is not installed.
    pub fn start() -> Option<RedisServer> {
        Self::start_with(&[])
    }

    /// Starts a server with extra arguments (which may turn persistence on, in its own
    /// directory).
    pub fn start_with(extra: &[&str]) -> Option<RedisServer> {
        let program = redis_server_program()?;
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mailsift-redis-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("redis temp dir");
        // A few attempts: another process may take the free port between probe and bind.
        for _ in 0..5 {
            let port = free_port();
            let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
            let child = spawn(&program, &dir, port, &extra);
            let mut server = RedisServer {
                child,
                dir: dir.clone(),
                program: program.clone(),
                extra,
                port,
            };
            if server.wait_ready() {
                return Some(server);
            }
            server.stop();
        }
        panic!(
            "redis-server did not start; see {}",
            dir.join("redis.log").display()
        );
    }

    /// Starts the server again (after [`RedisServer::stop`]) on the same port and directory.
    pub fn restart(&mut self) -> bool {
        self.stop();
        self.child = spawn(&self.program, &self.dir, self.port, &self.extra);
        self.wait_ready()
    }

    /// Waits (at most 10 s) until the server answers PING.
    fn wait_ready(&mut self) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if ping(self.port) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    /// The Unix socket's URL.
    pub fn unix_url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    /// The Unix socket's path.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one command line (inline protocol) and returns the raw reply.
    pub fn command(&self, line: &str) -> String {
        raw_command(self.port, line)
    }

    /// Stops the server by PID (SIGKILL: no persistence to flush) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The temporary directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(program: &Path, dir: &Path, port: u16, extra: &[String]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("redis.log"))
        .expect("redis log");
    Command::new(program)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .arg("--dir")
        .arg(dir)
        .arg("--unixsocket")
        .arg(dir.join("redis.sock"))
        .args(["--unixsocketperm", "700"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(Stdio::null())
        .spawn()
        .expect("start redis-server")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind probe");
    l.local_addr().expect("probe addr").port()
}

fn ping(port: u16) -> bool {
    raw_command(port, "PING").starts_with("+PONG")
}

fn raw_command(port: u16, line: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(format!("{line}\r\n").as_bytes()).is_err() {
        return String::new();
    }
    let mut buf = vec![0u8; 1 << 16];
    let mut out = Vec::new();
    // One reply: read until the peer pauses (bounded by the read timeout and 64 reads).
    for _ in 0..64 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The commands that clients (not scripts) sent to the servers on `ports` while `f` ran, by
/// name, as `MONITOR` on each shows them.
pub fn sent_while(ports: &[u16], f: impl FnOnce()) -> Vec<String> {
    use std::io::{Read, Write};
    let mut monitors: Vec<std::net::TcpStream> = ports
        .iter()
        .map(|&port| {
            let mut m = std::net::TcpStream::connect(("127.0.0.1", port)).expect("monitor");
            m.write_all(b"MONITOR\r\n").expect("monitor");
            let mut ok = [0u8; 5];
            m.read_exact(&mut ok).expect("+OK");
            assert_eq!(&ok, b"+OK\r\n");
            m
        })
        .collect();
    f();
    let mut seen = Vec::new();
    for m in &mut monitors {
        let _ = m.set_read_timeout(Some(Duration::from_millis(300)));
        let mut out = Vec::new();
        let mut buf = [0u8; 1 << 14];
        // Until the node has nothing more to say (bounded).
        for _ in 0..1000 {
            match m.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        // +1700000000.123456 [0 127.0.0.1:54321] "EVALSHA" ...; scripts show as [0 lua].
        for line in String::from_utf8_lossy(&out).lines() {
            let Some((_, rest)) = line.split_once(" [") else {
                continue;
            };
            let Some((source, cmd)) = rest.split_once("] ") else {
                continue;
            };
            if !source.ends_with(" lua") {
                seen.push(cmd.split('"').nth(1).unwrap_or("").to_ascii_uppercase());
            }
        }
    }
    seen.sort();
    seen
}

/// A relay to the Redis server on `port` that, once, drops its client's connection instead of
/// passing on the `nth` answer (from 1) to an `EVALSHA` the server carried out (an integer
/// reply): the call was applied, its answer lost with the connection. Returns the relay's
/// port and whether it has dropped one.
pub fn answer_losing_relay(port: u16, nth: usize) -> (u16, Arc<AtomicBool>) {
    relay(port, nth, false)
}

/// [`answer_losing_relay`], which then closes every new connection at once: the server is
/// gone for good after the lost answer.
pub fn answer_losing_then_closed_relay(port: u16, nth: usize) -> (u16, Arc<AtomicBool>) {
    relay(port, nth, true)
}

fn relay(port: u16, nth: usize, then_closed: bool) -> (u16, Arc<AtomicBool>) {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let relay = listener.local_addr().expect("address").port();
    let dropped = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&dropped);
    let answers = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            if then_closed && done.load(Ordering::SeqCst) {
                continue;
            }
            let (Ok(client), Ok(server)) = (client, TcpStream::connect(("127.0.0.1", port))) else {
                continue;
            };
            let sent_call = Arc::new(AtomicBool::new(false));
            let (mut from_client, mut to_server) = (
                client.try_clone().expect("clone"),
                server.try_clone().expect("clone"),
            );
            let saw = Arc::clone(&sent_call);
            std::thread::spawn(move || {
                let mut buf = vec![0; 1 << 16];
                while let Ok(n @ 1..) = from_client.read(&mut buf) {
                    if buf[..n].windows(7).any(|w| w == b"EVALSHA") {
                        saw.store(true, Ordering::SeqCst);
                    }
                    if to_server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to_server.shutdown(Shutdown::Both);
            });
            let (mut from_server, mut to_client) = (server, client);
            let done = Arc::clone(&done);
            let answers = Arc::clone(&answers);
            std::thread::spawn(move || {
                let mut buf = vec![0; 1 << 16];
                while let Ok(n @ 1..) = from_server.read(&mut buf) {
                    let answer = sent_call.swap(false, Ordering::SeqCst);
                    if answer
                        && buf[0] == b':'
                        && answers.fetch_add(1, Ordering::SeqCst) + 1 == nth
                        && !done.swap(true, Ordering::SeqCst)
                    {
                        break;
                    }
                    if to_client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to_client.shutdown(Shutdown::Both);
                let _ = from_server.shutdown(Shutdown::Both);
            });
        }
    });
    (relay, dropped)
}
