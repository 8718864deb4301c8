//! How the Redis backend reaches its server: the URL forms and their settings, TLS, and one
//! connection type over either a single server or a Redis Cluster.
//!
//! # URLs
//! - `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` (also `valkey://`): one server over TCP.
//! - `rediss://...` (also `valkeys://`): the same over TLS. The server's certificate is checked
//!   against the system's trusted roots (`/etc/ssl/certs`) and must name HOST.
//! - `redis+unix:///PATH[?db=DB]` (also `valkey+unix://`, `unix://`): a Unix socket.
//! - `redis+cluster://[USER:PASSWORD@]HOST:PORT[,HOST:PORT...]` (also `valkey+cluster://`;
//!   `rediss+cluster://`, `valkeys+cluster://` over TLS): a Redis Cluster. The nodes listed are
//!   where the client starts (one that answers is enough: it learns the others and the slot map
//!   from it); each command then goes to the node that holds its keys' slot, following `MOVED`
//!   and `ASK` redirections. A cluster has database 0 only.
//!
//! # Parameters
//! After `?`, joined by `&`:
//! - `prefix=NAME:`: the key prefix (default `mailsift:`), so several sites share a server.
//! - `ca=PATH`: a PEM file of the CA certificate(s) to trust instead of the system's roots (a
//!   private CA).
//! - `cert=PATH&key=PATH`: a client certificate and its private key (PEM), for servers that
//!   require one (`tls-auth-clients yes`, Redis's default when TLS is on).
//! - `insecure=1`: TLS without any certificate check. For tests and development only: anyone
//!   on the path can read and change the model.
//!
//! Other parameters go to the client library (`protocol=resp3`, and `db=` for sockets).

use std::path::Path;
use std::time::{Duration, Instant};

use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConnection};
use redis::{
    Client, ClientTlsConfig, Cmd, Connection, ConnectionLike, RedisError, RedisResult,
    TlsCertificates, TlsMode, Value,
};

use super::redis_cluster;

/// Where the store is and how to reach it.
pub(super) struct Endpoint {
    /// The server or cluster.
    pub target: Target,
    /// The key prefix.
    pub prefix: String,
}

/// A client for a single server or for a cluster: connections are made from it.
pub(super) enum Target {
    /// One server (TCP, TLS or a Unix socket).
    Single {
        /// Its client.
        client: Client,
        /// Whether it is reached over TLS.
        tls: bool,
    },
    /// A Redis Cluster.
    Cluster(ClusterClient),
}

/// An open connection.
pub(super) enum Conn {
    /// To one server.
    Single(Connection),
    /// To every node of a cluster, routed by slot (boxed: it holds the slot map).
    Cluster(Box<ClusterConnection>),
}

/// What the URL asks for besides the address.
#[derive(Debug, Default, PartialEq, Eq)]
struct Settings {
    prefix: Option<String>,
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    insecure: bool,
    /// Parameters for the client library, as written.
    rest: Vec<String>,
}

/// Redirections and reconnections a cluster command may take before it fails: enough for a
/// slot moving during a resharding (`ASK`, then `MOVED`), few enough that a node that is down
/// fails the command within a few timeouts.
const CLUSTER_RETRIES: u32 = 3;

/// Whether `location` is a Redis or Valkey URL rather than a file path.
pub fn is_url(location: &str) -> bool {
    location
        .split_once("://")
        .is_some_and(|(s, _)| scheme(s).is_some())
}

/// (cluster, TLS) for a scheme we accept.
fn scheme(s: &str) -> Option<(bool, bool)> {
    Some(match s {
        "redis" | "valkey" | "redis+unix" | "valkey+unix" | "unix" => (false, false),
        "rediss" | "valkeys" => (false, true),
        "redis+cluster" | "valkey+cluster" => (true, false),
        "rediss+cluster" | "valkeys+cluster" => (true, true),
        _ => return None,
    })
}

/// `%XX` escapes decoded (a path or prefix may need them in a URL).
fn unescape(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits our parameters off `query`.
fn settings(query: &str) -> Result<Settings, String> {
    let mut s = Settings::default();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "prefix" => s.prefix = Some(unescape(v)),
            "ca" => s.ca = Some(unescape(v)),
            "cert" => s.cert = Some(unescape(v)),
            "key" => s.key = Some(unescape(v)),
            "insecure" => {
                s.insecure = match v {
                    "" | "1" | "yes" | "true" => true,
                    "0" | "no" | "false" => false,
                    _ => {
                        return Err(format!(
                            "insecure={v} is not a yes/no value: write insecure=1"
                        ));
                    }
                }
            }
            _ => s.rest.push(kv.to_owned()),
        }
    }
    Ok(s)
}

fn read_pem(what: &str, path: &str, marker: &str) -> Result<Vec<u8>, String> {
    let data = std::fs::read(Path::new(path))
        .map_err(|e| format!("cannot read the {what} file {path}: {e}"))?;
    if !data.windows(marker.len()).any(|w| w == marker.as_bytes()) {
        return Err(format!(
            "the {what} file {path} holds no PEM {} ({marker}...): give a PEM file",
            marker
                .trim_matches('-')
                .trim_start_matches("BEGIN ")
                .to_lowercase()
        ));
    }
    Ok(data)
}

/// The certificates the settings name, if any.
fn certificates(s: &Settings) -> Result<Option<TlsCertificates>, String> {
    let client_tls = match (&s.cert, &s.key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(ClientTlsConfig {
            client_cert: read_pem("client certificate", cert, "-----BEGIN CERTIFICATE-----")?,
            client_key: read_pem("client key", key, "PRIVATE KEY-----")?,
        }),
        _ => {
            return Err(
                "cert= and key= go together: give the client certificate and its \
                        private key (PEM files)"
                    .into(),
            );
        }
    };
    let root_cert = match &s.ca {
        Some(ca) => Some(read_pem("CA", ca, "-----BEGIN CERTIFICATE-----")?),
        None => None,
    };
    Ok(
        (client_tls.is_some() || root_cert.is_some()).then_some(TlsCertificates {
            client_tls,
            root_cert,
        }),
    )
}

/// Parses a store URL. The error is the detail of an [`crate::Error::Redis`].
pub(super) fn parse(url: &str, timeout: Duration) -> Result<Endpoint, String> {
    let Some((sch, rest)) = url.split_once("://") else {
        return Err("not a URL: write redis://HOST:PORT/DB".into());
    };
    let Some((cluster, tls)) = scheme(sch) else {
        return Err(format!(
            "unknown scheme {sch}://: use redis://, rediss:// (TLS), redis+unix:// or \
             redis+cluster://"
        ));
    };
    if rest.contains('#') {
        return Err(
            "a '#' in the URL: write TLS settings as ?insecure=1, ?ca=PATH, and \
                    percent-encode '#' in a password (%23)"
                .into(),
        );
    }
    let (base, query) = rest.split_once('?').unwrap_or((rest, ""));
    let s = settings(query)?;
    if !tls {
        for (name, set) in [
            ("ca", s.ca.is_some()),
            ("cert", s.cert.is_some()),
            ("key", s.key.is_some()),
            ("insecure", s.insecure),
        ] {
            if set {
                let tls_scheme = if cluster { "rediss+cluster" } else { "rediss" };
                return Err(format!(
                    "{name}= is a TLS setting and {sch}:// has no TLS: use {tls_scheme}://"
                ));
            }
        }
    }
    if s.insecure && s.ca.is_some() {
        return Err(
            "ca= and insecure=1 contradict each other: drop insecure=1 to check the \
                    server against that CA"
                .into(),
        );
    }
    let certs = certificates(&s)?;
    if tls {
        install_crypto();
    }
    let rest_query = if s.rest.is_empty() {
        String::new()
    } else {
        format!("?{}", s.rest.join("&"))
    };
    let target = if cluster {
        cluster_client(base, tls, &s, certs, &rest_query, timeout)?
    } else {
        // The client library's spelling of "no certificate check".
        let insecure = if s.insecure { "#insecure" } else { "" };
        let client_url = format!("{sch}://{base}{rest_query}{insecure}");
        let info = client_info(&client_url).map_err(|e| e.to_string())?;
        let client = match certs {
            Some(c) => Client::build_with_tls(info, c),
            None => Client::open(info),
        };
        Target::Single {
            client: client.map_err(|e| e.to_string())?,
            tls,
        }
    };
    let prefix = s
        .prefix
        .unwrap_or_else(|| super::redis::DEFAULT_PREFIX.to_owned());
    if prefix.contains(['{', '}']) || prefix.len() > 64 {
        return Err(format!(
            "key prefix {prefix:?} must be at most 64 characters without braces"
        ));
    }
    Ok(Endpoint { target, prefix })
}

/// The connection settings of `url`, without the client library's `CLIENT SETINFO` greeting:
/// it is a round trip more for every connection (every `classify` process opens one), and the
/// library waits for each of its two replies with the whole timeout, so a server that accepts
/// and never answers held a classify twice as long as the timeout its error message names.
fn client_info(url: &str) -> RedisResult<redis::ConnectionInfo> {
    use redis::IntoConnectionInfo as _;
    let info = url.into_connection_info()?;
    let settings = info.redis_settings().clone().set_skip_set_lib_name();
    Ok(info.set_redis_settings(settings))
}

fn cluster_client(
    base: &str,
    tls: bool,
    s: &Settings,
    certs: Option<TlsCertificates>,
    query: &str,
    timeout: Duration,
) -> Result<Target, String> {
    let (authority, path) = base.split_once('/').unwrap_or((base, ""));
    if !matches!(path, "" | "0") {
        return Err(format!(
            "a Redis Cluster has database 0 only: drop /{path} from the URL (use ?prefix= to \
             keep sites apart)"
        ));
    }
    let (cred, hosts) = match authority.rsplit_once('@') {
        Some((c, h)) => (format!("{c}@"), h),
        None => (String::new(), authority),
    };
    let node_scheme = if tls { "rediss" } else { "redis" };
    let nodes: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| format!("{node_scheme}://{cred}{h}/{query}"))
        .collect();
    if nodes.is_empty() {
        return Err("no cluster node in the URL: list one or more, as \
                    redis+cluster://HOST:PORT,HOST:PORT"
            .into());
    }
    // Connecting to a node waits for each reply of the client library's greeting (AUTH when
    // the URL has credentials, then CLIENT SETINFO, two; its builder cannot leave those out)
    // with the connection timeout: shared out, so that a node that accepts and never answers
    // is given up on once the timeout has passed, not two or three times that.
    let greeting = 2 + u32::from(!cred.is_empty());
    let mut b = ClusterClientBuilder::new(nodes)
        .connection_timeout(timeout / greeting)
        .response_timeout(timeout)
        .retries(CLUSTER_RETRIES)
        .min_retry_wait(10)
        .max_retry_wait(250);
    if s.insecure {
        b = b.tls(TlsMode::Insecure);
    }
    if let Some(c) = certs {
        b = b.certs(c);
    }
    b.build().map(Target::Cluster).map_err(|e| e.to_string())
}

/// rustls's cryptography (ring), made the process default once; without it, connecting would
/// depend on which providers the build happens to enable.
fn install_crypto() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Fails only when another thread installed one first: that one is then used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

impl Target {
    /// True for a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self, Target::Cluster(_))
    }

    /// The error of a connection's first exchange (the TLS handshake happens there, with the
    /// greeting or with the first command): a plain port reads a TLS greeting as the start of
    /// a command line and waits for the rest, so the handshake times out; said as such.
    pub fn first_answer_error(&self, e: RedisError, timeout: Duration) -> RedisError {
        match self {
            Target::Single { tls: true, .. } if e.is_timeout() => RedisError::from((
                redis::ErrorKind::Io,
                "no TLS answer",
                format!(
                    "the server did not complete a TLS handshake within {} ms: is this its \
                     tls-port? Use redis:// for a plain port",
                    timeout.as_millis()
                ),
            )),
            _ => e,
        }
    }

    /// Opens a connection whose every wait is bounded by `timeout`, and a single server's first
    /// command by what is left of it at `until` (so that connecting and the first answer
    /// together take no longer; [`Conn::set_wait`] gives the whole timeout back after it).
    pub fn connect(&self, timeout: Duration, until: Instant) -> RedisResult<Conn> {
        match self {
            Target::Single { client, .. } => {
                // The library waits for each reply of its greeting (AUTH or HELLO, SELECT) with
                // the timeout it is given: shared out, so that the greeting takes no longer.
                let info = client.get_connection_info().redis_settings();
                let replies =
                    u32::from(info.protocol().supports_resp3() || info.password().is_some())
                        + u32::from(info.db() != 0);
                let wait = timeout / replies.max(1);
                let c = client
                    .get_connection_with_timeout(wait)
                    .map_err(|e| self.first_answer_error(e, timeout))?;
                let conn = Conn::Single(c);
                conn.set_wait(until.saturating_duration_since(Instant::now()))?;
                Ok(conn)
            }
            Target::Cluster(client) => {
                let c = client.get_connection()?;
                c.set_write_timeout(Some(timeout))?;
                Ok(Conn::Cluster(Box::new(c)))
            }
        }
    }
}

impl Conn {
    /// Bounds each wait of a single server's connection by `wait` (at least a millisecond); a
    /// cluster connection keeps the response timeout its client was built with.
    pub fn set_wait(&self, wait: Duration) -> RedisResult<()> {
        if let Conn::Single(c) = self {
            let wait = wait.max(Duration::from_millis(1));
            c.set_read_timeout(Some(wait))?;
            c.set_write_timeout(Some(wait))?;
        }
        Ok(())
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => redis_cluster::pipeline(c, cmd, offset, count),
        }
    }

    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        match self {
            Conn::Single(c) => c.req_command(cmd),
            Conn::Cluster(c) => c.req_command(cmd),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }

    /// Pipelines work on a cluster too: [`redis_cluster::pipeline`] routes them by slot.
    fn supports_pipelining(&self) -> bool {
        true
    }

    fn check_connection(&mut self) -> bool {
        match self {
            Conn::Single(c) => c.check_connection(),
            Conn::Cluster(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Conn::Single(c) => c.is_open(),
            Conn::Cluster(c) => c.is_open(),
        }
    }
}

/// `detail` (the error's text), with what to do when `e` is a TLS problem we recognise.
pub(super) fn with_hint(e: &RedisError, detail: String) -> String {
    let text = e.to_string();
    let hint = if text.contains("UnknownIssuer") || text.contains("BadSignature") {
        "the server's certificate is not signed by a CA this host trusts: give the CA that \
         signed it with ?ca=/path/to/ca.pem, or add that CA to the system's roots"
    } else if text.contains("NotValidForName") || text.contains("not valid for name") {
        "the server's certificate does not name the host in the URL: connect by a name (or \
         IP address) that the certificate lists"
    } else if text.contains("Expired") || text.contains("NotValidYet") {
        "the server's certificate is outside its validity dates: renew it, or check this \
         host's clock"
    } else if text.contains("CertificateRequired") || text.contains("HandshakeFailure") {
        "the server refused the TLS handshake, most often because it requires a client \
         certificate: give ?cert=/path/client.pem&key=/path/client.key"
    } else if text.contains("corrupt message") || text.contains("InvalidContentType") {
        "the server did not answer in TLS: is this its tls-port? Use redis:// for a plain port"
    } else if text.contains("reset by peer") {
        "if this port speaks TLS only, use rediss://"
    } else if text.contains("PEM") || text.contains("private key") {
        "the certificate or key file could not be used: give PEM files (ca=, cert=, key=)"
    } else {
        return detail;
    };
    format!("{detail} ({hint})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        match parse(url, Duration::from_secs(1)) {
            Ok(_) => panic!("{url} is refused"),
            Err(e) => e,
        }
    }

    #[test]
    fn schemes_and_settings() {
        for u in [
            "redis://h:6379/2",
            "rediss://h/0",
            "valkeys://h",
            "redis+unix:///run/r.sock",
            "redis+cluster://a:7000,b:7001",
            "rediss+cluster://a:7000",
        ] {
            assert!(is_url(u), "{u}");
        }
        assert!(!is_url("/var/lib/mailsift/site.db") && !is_url("redis.db"));
        assert!(!is_url("http://h/"));
        let s = settings("prefix=site1:&protocol=resp3&ca=/etc/ca%20x.pem&insecure=0").expect("ok");
        assert_eq!(s.prefix.as_deref(), Some("site1:"));
        assert_eq!(s.ca.as_deref(), Some("/etc/ca x.pem"));
        assert_eq!(s.rest, ["protocol=resp3"]);
        assert!(!s.insecure);
        assert!(settings("insecure=1").expect("ok").insecure);
        assert!(settings("insecure=maybe").is_err());
        assert_eq!(unescape("a%7Bb%"), "a{b%");
    }

    #[test]
    fn urls_that_cannot_work_are_refused_with_what_to_do() {
        assert!(err("redis://h/0?ca=/x.pem").contains("use rediss://"));
        assert!(err("redis+cluster://h:1?insecure=1").contains("use rediss+cluster://"));
        assert!(err("rediss://h/0?ca=/nonexistent/ca.pem").contains("cannot read the CA file"));
        assert!(err("rediss://h/0?ca=/x.pem&insecure=1").contains("contradict"));
        assert!(err("rediss://h/0?cert=/x.pem").contains("go together"));
        assert!(err("redis+cluster://a:1,b:2/3").contains("database 0 only"));
        assert!(err("redis+cluster://").contains("no cluster node"));
        assert!(err("rediss://h/#insecure").contains("?insecure=1"));
        assert!(err("mysql://h/0").contains("unknown scheme"));
        assert!(err("redis://h/0?prefix={x}").contains("braces"));
        // A file that is not PEM is named as such.
        let dir = std::env::temp_dir().join(format!("mailsift-conn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("ca.pem");
        std::fs::write(&f, "not a certificate").expect("write");
        let e = err(&format!("rediss://h/0?ca={}", f.display()));
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn urls_that_parse_make_the_right_client() {
        let t = Duration::from_secs(1);
        let e = parse(
            "redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:7001/?prefix=p:",
            t,
        )
        .expect("cluster");
        assert!(e.target.is_cluster());
        assert_eq!(e.prefix, "p:");
        let e = parse("rediss://127.0.0.1:6380/1?insecure=1", t).expect("tls");
        assert!(!e.target.is_cluster());
        assert_eq!(e.prefix, "mailsift:");
        assert!(parse("rediss+cluster://127.0.0.1:7000?insecure=1", t).is_ok());
    }

    #[test]
    fn tls_errors_say_what_to_do() {
        let e = RedisError::from(std::io::Error::other(
            "invalid peer certificate: UnknownIssuer",
        ));
        let d = with_hint(&e, e.to_string());
        assert!(d.contains("UnknownIssuer") && d.contains("?ca="), "{d}");
        let e = RedisError::from(std::io::Error::other(
            "received fatal alert: CertificateRequired",
        ));
        assert!(with_hint(&e, e.to_string()).contains("?cert="));
        let e = RedisError::from(std::io::Error::other("connection refused"));
        assert_eq!(with_hint(&e, e.to_string()), "connection refused");
    }
}
