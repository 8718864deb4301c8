//! What the two private Postfix instances of the tests share (the milter's, tests/postfix, and
//! the delivery recipes', tests/mda_env/servers.rs): the main.cf settings that keep an instance
//! private and quick, the daemons of its master.cf, and finding and waiting for loopback ports.

#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// A free loopback TCP port (bound, then released for the server to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits (at most 30 s) until something accepts connections on the loopback port; on failure
/// the message quotes `log` when given.
pub fn wait_port(port: u16, what: &str, log: Option<&Path>) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} did not start listening on 127.0.0.1:{port}{}",
            log.map(|l| format!("; log:\n{}", std::fs::read_to_string(l).unwrap_or_default()))
                .unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// main.cf settings of every private instance in `dir`: loopback only, no local delivery or
/// aliases, its own log file, fast retries. Each harness adds its directories and routing.
pub fn main_cf_common(dir: &Path) -> String {
    format!(
        "compatibility_level = 3.6
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mailsift-test.localdomain
mydomain = localdomain
mydestination =
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
",
        dir = dir.display()
    )
}

/// The daemons every instance runs (none chrooted), for its master.cf; each harness adds its
/// smtpd listeners and delivery services.
pub const MASTER_CF_COMMON: &str = "\
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";
