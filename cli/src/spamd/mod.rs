//! `mailsift serve --listen-spamd`: SpamAssassin's spamd protocol in front of the resident
//! engine, so `spamc`, Exim's `spam =` condition, Amavis and every other spamd client can use
//! mailsift by changing one address.
//!
//! A thin front end (house style 13): [`codec`] parses and formats the wire protocol,
//! [`server`] listens, reads requests with a deadline and a size limit, and maps each verb
//! onto the same functions `mailsift classify` uses ([`crate::classify::scan`] and
//! [`crate::classify::annotated`]), so PROCESS returns exactly the bytes `classify` writes for
//! the same message and user. [`render`] words the SYMBOLS and REPORT bodies.

pub mod codec;
mod render;
mod server;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use mailsift::config::SpamdConfig;

pub(crate) use server::start;

/// Options of `mailsift serve` for the spamd protocol (each also settable in `[spamd]`).
#[derive(Debug, Args, Default)]
pub struct SpamdArgs {
    /// Also answer SpamAssassin's spamd protocol (spamc, Exim's spam condition, Amavis) on
    /// ADDR: HOST:PORT or an absolute Unix socket path. Repeatable. Only loopback addresses
    /// unless --spamd-allow-from (or [spamd] allow_from) lists the clients.
    #[arg(long = "listen-spamd", value_name = "ADDR")]
    pub listen: Vec<String>,
    /// A client address or network (192.0.2.0/24, 2001:db8::/32) allowed to use the spamd
    /// TCP listeners. Repeatable [default: loopback only].
    #[arg(long = "spamd-allow-from", value_name = "NET")]
    pub allow_from: Vec<String>,
    /// Accept spamd's TELL (spamc -L spam|ham|forget): lets spamd clients train the database.
    #[arg(long)]
    pub allow_tell: bool,
}

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenAddr::Tcp(a) => write!(f, "{a}"),
            ListenAddr::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// An allowed client network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl Net {
    /// Parses `ADDR` or `ADDR/PREFIX`.
    pub fn parse(s: &str) -> Result<Net> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().with_context(|| {
            format!("'{s}' is not an IP address or network such as 192.0.2.0/24")
        })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .with_context(|| format!("'{s}': the prefix length must be 0 to {max}"))?,
        };
        Ok(Net { addr, prefix })
    }

    /// Whether `ip` is inside (an IPv4 client on an IPv6 socket counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let bits = |a: IpAddr| -> (u128, u32) {
            match a {
                IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
                IpAddr::V6(v) => (u128::from(v), 128),
            }
        };
        let ((net, width), (host, host_width)) = (bits(self.addr), bits(ip));
        if width != host_width {
            return false;
        }
        let shift = width - u32::from(self.prefix);
        shift >= width || (net >> shift) == (host >> shift)
    }
}

/// The spamd front end's settings: command-line options over `[spamd]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen addresses.
    pub listen: Vec<ListenAddr>,
    /// Allowed TCP clients; `None`: loopback only.
    pub allow_from: Option<Vec<Net>>,
    /// TELL accepted.
    pub allow_tell: bool,
    /// Largest message.
    pub max_size: usize,
    /// Time a client has to send its request.
    pub timeout: Duration,
    /// Connections at once.
    pub max_connections: usize,
    /// Unix socket permissions.
    pub socket_mode: u32,
}

/// Parses a listen address.
pub fn parse_listen(s: &str) -> Result<Vec<ListenAddr>> {
    if s.starts_with('/') {
        return Ok(vec![ListenAddr::Unix(PathBuf::from(s))]);
    }
    let well_formed = s
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
    if !well_formed {
        bail!(
            "spamd listen address '{s}' is neither HOST:PORT (127.0.0.1:783, [::1]:783, \
             localhost:783) nor an absolute Unix socket path"
        );
    }
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve the spamd listen address '{s}'"))?
        .collect();
    if addrs.is_empty() {
        bail!("the spamd listen address '{s}' resolves to no address");
    }
    Ok(addrs.into_iter().map(ListenAddr::Tcp).collect())
}

impl Settings {
    /// Merges the options with the configuration and checks them.
    pub fn new(args: &SpamdArgs, config: &SpamdConfig) -> Result<Settings> {
        let listen_text = if args.listen.is_empty() {
            &config.listen
        } else {
            &args.listen
        };
        let mut listen = Vec::new();
        for s in listen_text {
            for a in parse_listen(s)? {
                if !listen.contains(&a) {
                    listen.push(a);
                }
            }
        }
        let nets_text = if args.allow_from.is_empty() {
            &config.allow_from
        } else {
            &args.allow_from
        };
        let allow_from = if nets_text.is_empty() {
            None
        } else {
            Some(
                nets_text
                    .iter()
                    .map(|s| Net::parse(s))
                    .collect::<Result<Vec<_>>>()?,
            )
        };
        if allow_from.is_none() {
            if let Some(a) = listen.iter().find_map(|a| match a {
                ListenAddr::Tcp(t) if !t.ip().is_loopback() => Some(t),
                _ => None,
            }) {
                bail!(
                    "the spamd listen address {a} is not a loopback address: say which clients \
                     may connect with --spamd-allow-from NET (or [spamd] allow_from)"
                );
            }
        }
        let socket_mode = u32::from_str_radix(config.socket_mode.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .with_context(|| {
                format!(
                    "[spamd] socket_mode '{}' is not an octal file mode such as 660",
                    config.socket_mode
                )
            })?;
        if config.max_size == 0 || config.max_connections == 0 || config.timeout_secs == 0 {
            bail!("[spamd] max_size, max_connections and timeout_secs must be above 0");
        }
        Ok(Settings {
            listen,
            allow_from,
            allow_tell: args.allow_tell || config.allow_tell,
            max_size: config.max_size,
            timeout: Duration::from_secs(config.timeout_secs),
            max_connections: config.max_connections,
            socket_mode,
        })
    }

    /// Whether a TCP client may connect.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        match &self.allow_from {
            None => match ip {
                IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
                v4 => v4.is_loopback(),
            },
            Some(nets) => nets.iter().any(|n| n.contains(ip)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(listen: &[&str], allow: &[&str]) -> SpamdArgs {
        SpamdArgs {
            listen: listen.iter().map(|s| s.to_string()).collect(),
            allow_from: allow.iter().map(|s| s.to_string()).collect(),
            allow_tell: false,
        }
    }

    #[test]
    fn listen_addresses_and_the_loopback_rule() {
        let c = SpamdConfig::default();
        let s = Settings::new(&args(&["127.0.0.1:7830", "/run/x.sock"], &[]), &c).expect("ok");
        assert_eq!(
            s.listen,
            [
                ListenAddr::Tcp("127.0.0.1:7830".parse().expect("addr")),
                ListenAddr::Unix("/run/x.sock".into())
            ]
        );
        assert!(s.allowed("127.0.0.1".parse().expect("ip")));
        assert!(s.allowed("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!s.allowed("192.0.2.1".parse().expect("ip")));
        let e = Settings::new(&args(&["0.0.0.0:783"], &[]), &c).expect_err("not loopback");
        assert!(e.to_string().contains("--spamd-allow-from"), "{e}");
        let s = Settings::new(&args(&["0.0.0.0:783"], &["192.0.2.0/24", "::1"]), &c).expect("ok");
        assert!(s.allowed("192.0.2.77".parse().expect("ip")));
        assert!(s.allowed("::ffff:192.0.2.77".parse().expect("ip")));
        assert!(!s.allowed("192.0.3.1".parse().expect("ip")));
        assert!(
            !s.allowed("127.0.0.1".parse().expect("ip")),
            "an explicit list replaces loopback"
        );
        for bad in ["783", "relative/path.sock", "host:", ":783", "host:99999"] {
            assert!(parse_listen(bad).is_err(), "{bad}");
        }
        assert!(Net::parse("192.0.2.0/33").is_err());
        assert!(Net::parse("nonsense").is_err());
        assert!(
            Net::parse("0.0.0.0/0")
                .expect("any")
                .contains("203.0.113.9".parse().expect("ip"))
        );
    }

    #[test]
    fn configuration_is_used_when_no_option_is_given() {
        let c = SpamdConfig {
            listen: vec!["[::1]:7831".into()],
            allow_tell: true,
            socket_mode: "660".into(),
            ..SpamdConfig::default()
        };
        let s = Settings::new(&SpamdArgs::default(), &c).expect("ok");
        assert_eq!(
            s.listen,
            [ListenAddr::Tcp("[::1]:7831".parse().expect("addr"))]
        );
        assert!(s.allow_tell);
        assert_eq!(s.socket_mode, 0o660);
        let bad = SpamdConfig {
            socket_mode: "rw".into(),
            ..SpamdConfig::default()
        };
        assert!(Settings::new(&SpamdArgs::default(), &bad).is_err());
    }
}
