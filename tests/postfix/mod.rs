//! A private Postfix for the milter tests and `bench_milter`: its own configuration and queue
//! directories in a temp dir, smtpd on a free loopback port, mail relayed to an SMTP sink run
//! by the test, the milter under test in `smtpd_milters`. Started by the test, stopped by PID.
//!
//! Postfix's master runs as root only (it drops to `mail_owner` = `postfix` for its daemons);
//! without root, or without the Debian package, the tests skip and say why.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod conf;

pub use conf::free_port;

const MASTER: &str = "/usr/lib/postfix/sbin/master";

/// Why Postfix cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !Path::new(MASTER).exists() {
        return Some(format!(
            "{MASTER} not found: install Postfix with scripts/install-test-deps"
        ));
    }
    let uid = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    if uid.ok() != Some(0) {
        return Some(
            "Postfix's master runs as root only; run the tests as root (as CI does)".into(),
        );
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    if !passwd.lines().any(|l| l.starts_with("postfix:")) {
        return Some("no 'postfix' user: install Postfix with scripts/install-test-deps".into());
    }
    None
}

/// Waits until something accepts connections on the port.
pub fn wait_port(port: u16, what: &str) {
    conf::wait_port(port, what, None);
}

/// An SMTP server that accepts every message and keeps it (dot-unstuffed, CRLF as received).
pub struct Sink {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Sink {
    pub fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let port = listener.local_addr().expect("addr").port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&messages);
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let kept = Arc::clone(&kept);
                std::thread::spawn(move || {
                    let _ = sink_session(s, &kept);
                });
            }
        });
        Sink { port, messages }
    }

    /// Waits up to `secs` for `n` messages and returns those received.
    pub fn wait_for(&self, n: usize, secs: u64) -> Vec<Vec<u8>> {
        let started = Instant::now();
        loop {
            let got = self.messages.lock().expect("lock").clone();
            if got.len() >= n || started.elapsed() > Duration::from_secs(secs) {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn sink_session(s: TcpStream, kept: &Mutex<Vec<Vec<u8>>>) -> std::io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    w.write_all(b"220 sink ESMTP\r\n")?;
    let mut line = Vec::new();
    for _ in 0..10_000 {
        line.clear();
        if r.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let cmd = String::from_utf8_lossy(&line).to_ascii_uppercase();
        if cmd.starts_with("EHLO") {
            w.write_all(b"250-sink\r\n250 8BITMIME\r\n")?;
        } else if cmd.starts_with("DATA") {
            w.write_all(b"354 go ahead\r\n")?;
            let mut msg = Vec::new();
            loop {
                line.clear();
                if r.read_until(b'\n', &mut line)? == 0 {
                    return Ok(());
                }
                if line == b".\r\n" {
                    break;
                }
                let l = if line.starts_with(b"..") {
                    &line[1..]
                } else {
                    &line[..]
                };
                msg.extend_from_slice(l);
            }
            kept.lock().expect("lock").push(msg);
            w.write_all(b"250 2.0.0 kept\r\n")?;
        } else if cmd.starts_with("QUIT") {
            w.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"250 ok\r\n")?;
        }
    }
    Ok(())
}

/// A private Postfix instance, stopped (by PID) when dropped.
pub struct Postfix {
    pub dir: PathBuf,
    pub smtp_port: u16,
    master: Child,
}

impl Postfix {
    /// Starts Postfix relaying `example.test` to the sink; `milter` is the `smtpd_milters`
    /// value (empty: none); `extra` lines go at the end of main.cf.
    pub fn start(dir: &Path, sink_port: u16, milter: &str, extra: &str) -> Postfix {
        use std::os::unix::fs::PermissionsExt;
        let etc = dir.join("etc");
        let queue = dir.join("queue");
        let data = dir.join("data");
        for d in [dir, &etc, &queue, &data] {
            std::fs::create_dir_all(d).expect("postfix dirs");
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        // The queue and data directories belong to mail_owner.
        let chown = Command::new("chown")
            .args(["-R", "postfix"])
            .arg(&data)
            .status()
            .expect("chown");
        assert!(chown.success());
        let smtp_port = free_port();
        let main_cf = format!(
            "{common}queue_directory = {queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
myorigin = $myhostname
relay_domains = example.test
transport_maps = inline:{{ example.test=smtp:[127.0.0.1]:{sink_port} }}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtpd_milters = {milter}
milter_protocol = 6
milter_default_action = accept
milter_connect_timeout = 2s
milter_command_timeout = 3s
milter_content_timeout = 3s
{extra}
",
            common = conf::main_cf_common(dir),
            queue = queue.display(),
            data = data.display(),
        );
        std::fs::write(etc.join("main.cf"), main_cf).expect("main.cf");
        let master_cf = format!(
            "127.0.0.1:{smtp_port} inet n - n - - smtpd
relay unix - - n - - smtp
{}",
            conf::MASTER_CF_COMMON
        );
        std::fs::write(etc.join("master.cf"), master_cf).expect("master.cf");
        // Creates the queue's subdirectories with their owners and modes.
        let check = Command::new("postfix")
            .arg("-c")
            .arg(&etc)
            .arg("check")
            .env("MAIL_CONFIG", &etc)
            .output()
            .expect("postfix check");
        assert!(
            check.status.success(),
            "postfix check failed (it logs to syslog; run 'postfix -c {} check' in a terminal to \
             see why): {}",
            etc.display(),
            String::from_utf8_lossy(&check.stderr)
        );
        let master = Command::new(MASTER)
            .arg("-c")
            .arg(&etc)
            .arg("-d")
            .env("MAIL_CONFIG", &etc)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postfix master");
        let pf = Postfix {
            dir: dir.to_owned(),
            smtp_port,
            master,
        };
        wait_port(smtp_port, "postfix smtpd");
        pf
    }

    /// Files in the queue (incoming, active, deferred, hold): messages Postfix still holds.
    pub fn queued(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for q in ["incoming", "active", "deferred", "hold", "maildrop"] {
            let mut stack = vec![self.dir.join("queue").join(q)];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                    let p = e.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else {
                        out.push(p);
                    }
                }
            }
        }
        out
    }

    /// Postfix's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        // SIGTERM: the master stops its daemons and exits.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.master.id().to_string())
            .status();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.master.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.master.kill();
        let _ = self.master.wait();
    }
}

/// A minimal SMTP client.
pub struct Smtp {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Smtp {
    /// Connects and reads the greeting.
    pub fn connect(port: u16) -> std::io::Result<Smtp> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        // The final dot goes in its own write: without this, Nagle's algorithm holds it until
        // the server's delayed ACK of the message (40 ms) and every latency includes that.
        s.set_nodelay(true)?;
        let w = s.try_clone()?;
        let mut c = Smtp {
            r: BufReader::new(s),
            w,
        };
        c.reply()?;
        Ok(c)
    }

    /// Reads one (possibly multi-line) reply.
    pub fn reply(&mut self) -> std::io::Result<String> {
        let mut all = String::new();
        for _ in 0..100 {
            let mut line = String::new();
            if self.r.read_line(&mut line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(all);
            }
        }
        Ok(all)
    }

    /// Sends a command line and reads the reply.
    pub fn cmd(&mut self, line: &str) -> std::io::Result<String> {
        self.w.write_all(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }

    /// DATA, the message (dot-stuffed, CRLF), and the reply to the final dot.
    pub fn data(&mut self, msg: &[u8]) -> std::io::Result<String> {
        self.data_timed(msg).map(|(r, _)| r)
    }

    /// As [`Smtp::data`], with the time from the final dot sent to its reply read.
    pub fn data_timed(&mut self, msg: &[u8]) -> std::io::Result<(String, Duration)> {
        let go = self.cmd("DATA")?;
        if !go.starts_with("354") {
            return Ok((go, Duration::ZERO));
        }
        let mut out = Vec::with_capacity(msg.len() + 64);
        for line in crlf(msg).split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                out.push(b'.');
            }
            out.extend_from_slice(line);
        }
        if !out.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
        self.w.write_all(&out)?;
        self.w.write_all(b".\r\n")?;
        let sent = Instant::now();
        let r = self.reply()?;
        Ok((r, sent.elapsed()))
    }

    /// A whole transaction; returns the reply to the end of DATA.
    pub fn send(port: u16, from: &str, to: &[&str], msg: &[u8]) -> std::io::Result<String> {
        let mut c = Smtp::connect(port)?;
        c.cmd("EHLO client.example.org")?;
        c.cmd(&format!("MAIL FROM:<{from}>"))?;
        for t in to {
            let r = c.cmd(&format!("RCPT TO:<{t}>"))?;
            assert!(r.starts_with("250"), "RCPT {t}: {r}");
        }
        let r = c.data(msg)?;
        let _ = c.cmd("QUIT");
        Ok(r)
    }
}

/// The message with CRLF line endings.
pub fn crlf(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + msg.len() / 30);
    let mut prev = 0;
    for &b in msg {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// Reads a whole stream (for child output).
pub fn read_all(mut r: impl Read) -> String {
    let mut s = String::new();
    let _ = r.read_to_string(&mut s);
    s
}
