//! Private instances of Postfix and Dovecot for the recipe tests, each in its own directory,
//! listening on a free loopback port and stopped by PID; a small SMTP and IMAP client.

#[path = "../postfix/conf.rs"]
mod conf;

pub use conf::free_port;

use super::{User, chmod, write};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn read_pid(file: &Path) -> Option<u32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// SIGTERM, then SIGKILL after 10 s, to a daemon that is not our child.
fn stop_pid(pid: u32) {
    super::signal(pid, "TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        super::signal(pid, "KILL");
    }
}

/// Waits (bounded) until `port` accepts connections.
fn wait_port(port: u16, what: &str, log: &Path) {
    conf::wait_port(port, what, Some(log));
}

/// One smtpd port of the private Postfix, with its own content filter service.
pub struct PostfixRoute {
    /// Port of the smtpd whose mail goes through this route's filter.
    pub port: u16,
    /// The recipient domain delivered into `maildir`.
    pub domain: String,
    pub maildir: PathBuf,
}

/// A private Postfix: its own config and queue directories, smtpd on loopback ports only, the
/// recipe's pipe service (one per route) and virtual(8) delivery to Maildirs as the user.
///
/// Postfix's set-group-ID postdrop accepts a non-default configuration directory only when
/// /etc/postfix/main.cf lists it. So that nothing outside the instance's directory changes,
/// command_directory points at a directory with the usual commands and a copy of postdrop
/// without the set-group-ID bit, and the instance's maildrop and public directories are opened
/// to the user (sticky, write-only), as Postfix does without postdrop.
pub struct Postfix {
    pub dir: PathBuf,
    pub routes: Vec<PostfixRoute>,
}

impl Postfix {
    /// `routes`: (name, reinject script path) per content filter. The smtp/pipe lines come from
    /// recipes/postfix/master.cf.
    pub fn start(dir: &Path, user: &User, routes: &[(String, PathBuf)]) -> Result<Postfix, String> {
        for (name, p) in [
            ("postfix", "/usr/sbin/postfix"),
            ("master", "/usr/lib/postfix/sbin/master"),
        ] {
            if !Path::new(p).exists() {
                return Err(format!(
                    "SKIP: Postfix {name} not found at {p}: run scripts/install-test-deps"
                ));
            }
        }
        if !user.switch {
            return Err(
                "SKIP: a private Postfix needs root (it starts as root and drops to its users)"
                    .into(),
            );
        }
        let etc = dir.join("etc");
        let bin = dir.join("bin");
        let vmail = dir.join("vmail");
        for d in [&etc, &bin, &vmail, &dir.join("spool"), &dir.join("data")] {
            std::fs::create_dir_all(d).expect("mkdir");
            chmod(d, 0o755);
        }
        chmod(dir, 0o755);
        user.own(&vmail);
        let postfix_uid = |what: &str| -> String {
            let o = Command::new("id")
                .args([what, "postfix"])
                .output()
                .expect("id");
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        };
        std::os::unix::fs::chown(
            dir.join("data"),
            postfix_uid("-u").parse().ok(),
            postfix_uid("-g").parse().ok(),
        )
        .expect("chown data");
        for e in std::fs::read_dir("/usr/sbin").expect("read /usr/sbin") {
            let p = e.expect("entry").path();
            let name = p
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            if name.starts_with("post") && name != "postdrop" {
                std::os::unix::fs::symlink(&p, bin.join(&name)).expect("symlink");
            }
        }
        std::fs::copy("/usr/sbin/postdrop", bin.join("postdrop")).expect("copy postdrop");
        chmod(&bin.join("postdrop"), 0o755);

        let d = dir.display();
        let mut maps = String::new();
        let mut domains = Vec::new();
        let mut master = String::new();
        let mut out = Vec::new();
        let recipe =
            std::fs::read_to_string(super::recipe("postfix/master.cf")).expect("read recipe");
        for (name, script) in routes {
            let port = free_port();
            let domain = format!("{name}.test");
            maps.push_str(&format!("@{domain} {name}/Maildir/\n"));
            domains.push(domain.clone());
            // The recipe's lines, with the service names, addresses and paths of this instance.
            let lines = recipe
                .lines()
                .filter(|l| !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n");
            let lines = lines
                .replace(
                    "smtp      inet  n       -       y",
                    &format!("127.0.0.1:{port} inet n - n"),
                )
                .replace(
                    "content_filter=mailsift:",
                    &format!("content_filter=mailsift-{name}:"),
                )
                .replace("mailsift  unix", &format!("mailsift-{name} unix"))
                .replace("user=mailsift", &format!("user={}", user.name))
                .replace(
                    "/usr/local/bin/mailsift-reinject",
                    &script.display().to_string(),
                );
            master.push_str(&lines);
            master.push('\n');
            out.push(PostfixRoute {
                port,
                domain,
                maildir: vmail.join(name).join("Maildir"),
            });
        }
        master.push_str(MASTER_BASE);
        master.push_str(conf::MASTER_CF_COMMON);
        write(&etc.join("master.cf"), master.as_bytes(), 0o644);
        write(&etc.join("vmailbox"), maps.as_bytes(), 0o644);
        let main = format!(
            "{common}\
             queue_directory = {d}/spool\n\
             data_directory = {d}/data\n\
             command_directory = {d}/bin\n\
             myorigin = localdomain\n\
             virtual_mailbox_domains = {domains}\n\
             virtual_mailbox_base = {d}/vmail\n\
             virtual_mailbox_maps = texthash:{d}/etc/vmailbox\n\
             virtual_uid_maps = static:{uid}\n\
             virtual_gid_maps = static:{gid}\n\
             virtual_minimum_uid = 1\n",
            common = conf::main_cf_common(dir),
            domains = domains.join(" "),
            uid = user.uid,
            gid = user.gid,
        );
        write(&etc.join("main.cf"), main.as_bytes(), 0o644);
        let pf = Postfix {
            dir: dir.to_path_buf(),
            routes: out,
        };
        // The master daemon keeps the descriptors it inherits: give it none to hold open.
        let o = Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(&etc)
            .arg("start")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run postfix start");
        if !o.success() {
            return Err(format!("postfix start failed ({o}); log:\n{}", pf.log()));
        }
        chmod(&dir.join("spool/maildrop"), 0o1733);
        chmod(&dir.join("spool/public"), 0o711);
        for r in &pf.routes {
            wait_port(r.port, "Postfix smtpd", &dir.join("maillog"));
        }
        Ok(pf)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("maillog")).unwrap_or_default()
    }

    fn master_pid(&self) -> Option<u32> {
        read_pid(&self.dir.join("spool/pid/master.pid"))
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        if let Some(pid) = self.master_pid() {
            stop_pid(pid);
        }
    }
}

/// The services a Postfix instance needs besides the recipe's and the common ones.
const MASTER_BASE: &str = "\
pickup    unix  n       -       n       60      1       pickup
virtual   unix  -       n       n       -       -       virtual
";

/// Reads one SMTP reply; returns its code.
fn smtp_reply(r: &mut BufReader<TcpStream>) -> Result<u32, String> {
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("connection closed".into());
        }
        if line.len() < 4 {
            return Err(format!("bad reply {line:?}"));
        }
        if line.as_bytes()[3] != b'-' {
            return line[..3].parse().map_err(|_| format!("bad reply {line:?}"));
        }
    }
}

/// Sends one message over SMTP; Ok when the server accepted it (250 after DATA).
pub fn smtp_send(port: u16, rcpt: &str, msg: &[u8]) -> Result<(), String> {
    let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let mut w = s.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(s);
    let mut step = |cmd: &[u8], want: u32, r: &mut BufReader<TcpStream>| -> Result<(), String> {
        if !cmd.is_empty() {
            w.write_all(cmd).map_err(|e| e.to_string())?;
        }
        let code = smtp_reply(r)?;
        if code == want {
            Ok(())
        } else {
            Err(format!(
                "{} answered {code}",
                String::from_utf8_lossy(cmd).trim()
            ))
        }
    };
    step(b"", 220, &mut r)?;
    step(b"EHLO mailsift-test\r\n", 250, &mut r)?;
    step(b"MAIL FROM:<sender@example.org>\r\n", 250, &mut r)?;
    step(format!("RCPT TO:<{rcpt}>\r\n").as_bytes(), 250, &mut r)?;
    step(b"DATA\r\n", 354, &mut r)?;
    let mut data = Vec::with_capacity(msg.len() + 1024);
    for line in msg.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if line.starts_with(b".") {
            data.push(b'.');
        }
        data.extend_from_slice(line);
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    step(&data, 250, &mut r)?;
    let _ = step(b"QUIT\r\n", 221, &mut r);
    Ok(())
}

/// A private Dovecot serving IMAP on a loopback port, for the IMAPSieve recipe.
pub struct Dovecot {
    pub dir: PathBuf,
    pub port: u16,
}

impl Dovecot {
    /// Starts `dovecot -c CONFIG` (a config that listens on `port`, base_dir under `dir`).
    pub fn start(dir: &Path, config: &Path, port: u16) -> Result<Dovecot, String> {
        // The daemon keeps the descriptors it inherits: give it none to hold open.
        let o = Command::new("/usr/sbin/dovecot")
            .arg("-c")
            .arg(config)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run dovecot");
        if !o.success() {
            return Err(format!(
                "dovecot failed to start ({o}): {}",
                std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default()
            ));
        }
        let d = Dovecot {
            dir: dir.to_path_buf(),
            port,
        };
        wait_port(port, "dovecot imap", &dir.join("dovecot.log"));
        Ok(d)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        if let Some(pid) = read_pid(&self.dir.join("run/master.pid")) {
            stop_pid(pid);
        }
    }
}

/// A minimal IMAP client: tagged commands, answers read up to their tagged line.
pub struct Imap {
    w: TcpStream,
    r: BufReader<TcpStream>,
    tag: u32,
}

impl Imap {
    pub fn login(port: u16, user: &str, password: &str) -> Result<Imap, String> {
        let s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(60))).ok();
        let w = s.try_clone().map_err(|e| e.to_string())?;
        let mut imap = Imap {
            w,
            r: BufReader::new(s),
            tag: 0,
        };
        let mut greeting = String::new();
        imap.r.read_line(&mut greeting).map_err(|e| e.to_string())?;
        imap.run(&format!("LOGIN {user} {password}"))?;
        Ok(imap)
    }

    /// Runs one command; returns its untagged lines, or the failure line.
    pub fn run(&mut self, cmd: &str) -> Result<Vec<String>, String> {
        self.tag += 1;
        let tag = format!("a{}", self.tag);
        self.w
            .write_all(format!("{tag} {cmd}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err(format!("{cmd}: connection closed"));
            }
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                return if rest.starts_with("OK") {
                    Ok(lines)
                } else {
                    Err(format!("{cmd}: {}", rest.trim()))
                };
            }
            lines.push(line.trim_end().to_owned());
        }
    }

    /// Appends `msg` (LF line ends, sent as CRLF) to `mailbox`.
    pub fn append(&mut self, mailbox: &str, msg: &[u8]) -> Result<(), String> {
        let mut data = Vec::with_capacity(msg.len() + 1024);
        for line in msg.split_inclusive(|&b| b == b'\n') {
            data.extend_from_slice(line.strip_suffix(b"\n").unwrap_or(line));
            data.extend_from_slice(b"\r\n");
        }
        self.tag += 1;
        let tag = format!("a{}", self.tag);
        let io = |e: std::io::Error| e.to_string();
        self.w
            .write_all(format!("{tag} APPEND {mailbox} {{{}}}\r\n", data.len()).as_bytes())
            .map_err(io)?;
        let mut line = String::new();
        self.r.read_line(&mut line).map_err(io)?;
        if !line.starts_with('+') {
            return Err(format!("APPEND {mailbox}: {}", line.trim()));
        }
        self.w.write_all(&data).map_err(io)?;
        self.w.write_all(b"\r\n").map_err(io)?;
        loop {
            line.clear();
            if self.r.read_line(&mut line).map_err(io)? == 0 {
                return Err("APPEND: connection closed".into());
            }
            if let Some(rest) = line.strip_prefix(&format!("{tag} ")) {
                return if rest.starts_with("OK") {
                    Ok(())
                } else {
                    Err(format!("APPEND {mailbox}: {}", rest.trim()))
                };
            }
        }
    }

    /// The UIDs in the selected mailbox.
    pub fn uids(&mut self) -> Result<Vec<u32>, String> {
        let lines = self.run("UID SEARCH ALL")?;
        Ok(lines
            .iter()
            .filter_map(|l| l.strip_prefix("* SEARCH"))
            .flat_map(|l| l.split_whitespace().filter_map(|n| n.parse().ok()))
            .collect())
    }
}
