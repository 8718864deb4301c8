//! Eval tests over the trust path ([`super::trust`]): SpamAssassin's RelayEval tests, with the
//! same names and meaning, computed from the parsed Received chain. None needs the network.

use super::evals::{EvalDef, no_args};
use super::relays::{Relay, is_private};

/// The trust-path evals, chained into the registry by [`super::evals::all`].
pub(crate) static TRUST_EVALS: &[EvalDef] = &[
    EvalDef {
        name: "check_all_trusted",
        signature: "()",
        doc: "Every relay of the Received chain is trusted: at least one trusted relay, no \
              untrusted one and no unparseable Received line (SpamAssassin's ALL_TRUSTED).",
        check: no_args,
        run: |e, _| {
            let t = e.trust.get();
            !t.trusted.is_empty() && t.untrusted.is_empty() && t.unparseable == 0
        },
    },
    EvalDef {
        name: "check_no_relays",
        signature: "()",
        doc: "No relay at all: no Received line with a client part, parseable or not (the \
              message never passed a mail server, or its Received lines were stripped).",
        check: no_args,
        run: |e, _| {
            let t = e.trust.get();
            t.trusted.is_empty() && t.untrusted.is_empty() && t.unparseable == 0
        },
    },
    EvalDef {
        name: "check_relays_unparseable",
        signature: "()",
        doc: "Some Received line has a client part in no known layout.",
        check: no_args,
        run: |e, _| e.trust.get().unparseable > 0,
    },
    EvalDef {
        name: "helo_ip_mismatch",
        signature: "()",
        doc: "An untrusted relay gave a public IPv4 address as its HELO name, and it is not \
              in the same /24 as the address it connected from.",
        check: no_args,
        run: |e, _| e.trust.get().untrusted.iter().any(helo_ip_mismatch),
    },
    EvalDef {
        name: "check_for_forged_received_trail",
        signature: "()",
        doc: "More than one untrusted hop says it received the message from a host other than \
              the one the next hop says it was (the `by` domain differs from the previous \
              relay's rDNS domain): a forged Received trail.",
        check: no_args,
        run: |e, _| forged_trail(&e.trust.get().untrusted) > 1,
    },
    EvalDef {
        name: "check_for_no_rdns_dotcom_helo",
        signature: "()",
        doc: "The last public untrusted relay says HELO as a big free-mail domain (hotmail.com, \
              aol.com, yahoo.com, ...) and its MTA found no reverse DNS for it.",
        check: no_args,
        run: |e, _| no_rdns_dotcom_helo(&e.trust.get().untrusted),
    },
];

fn valid_v4(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

fn helo_ip_mismatch(r: &Relay) -> bool {
    if !valid_v4(&r.helo) || is_private(&r.helo) {
        return false;
    }
    if !valid_v4(&r.ip) || is_private(&r.ip) || r.helo == r.ip {
        return false;
    }
    let net = match r.helo.rfind('.') {
        Some(i) => &r.helo[..=i],
        None => return false,
    };
    !r.ip.starts_with(net)
}

/// A host name's domain, roughly: the last two labels when the top label looks generic
/// (three or more characters, or ie/fr/de), else the last three; IP addresses unchanged.
fn host_domain(host: &str) -> String {
    if !host.bytes().any(|b| b.is_ascii_alphabetic()) {
        return host.to_owned();
    }
    let parts: Vec<&str> = host.split('.').collect();
    let last = parts.last().copied().unwrap_or("");
    let generic = last.chars().count() >= 3
        || last.contains("ie")
        || last.contains("fr")
        || last.contains("de");
    if parts.len() > 1 && generic {
        parts[parts.len() - 2..].join(".")
    } else if parts.len() > 2 {
        parts[parts.len() - 3..].join(".")
    } else {
        host.to_owned()
    }
}

/// `^\w+(?:[\w.-]+\.)+\w+$`: a dotted host name.
fn hostlike(s: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let (Some(first), Some(last)) = (s.chars().next(), s.chars().last()) else {
        return false;
    };
    word(first)
        && word(last)
        && s.contains('.')
        && s.chars().all(|c| word(c) || c == '.' || c == '-')
        && !s.ends_with('.')
        && s.rfind('.').is_some_and(|i| i > 1)
}

/// How many untrusted hops name a sender other than the previous hop's rDNS domain.
fn forged_trail(relays: &[Relay]) -> usize {
    let by: Vec<String> = relays
        .iter()
        .map(|r| host_domain(&r.by.to_ascii_lowercase()))
        .collect();
    let mut from: Vec<Option<String>> = relays
        .iter()
        .map(|r| Some(host_domain(&r.rdns.to_ascii_lowercase())))
        .collect();
    let mut mismatches = 0;
    for i in 0..relays.len() {
        if !hostlike(&by[i]) {
            continue;
        }
        let local = from[i]
            .as_deref()
            .is_some_and(|f| f == "localhost" || f == "localhost.localdomain");
        if local && relays[i].ip == "127.0.0.1" {
            from[i] = None;
        }
        if i == 0 {
            continue;
        }
        if let Some(prev) = from[i - 1].as_deref() {
            let welcomed = by[i] == "msn.com" && prev == "hotmail.com";
            if hostlike(prev) && by[i] != prev && !welcomed {
                mismatches += 1;
            }
        }
    }
    mismatches
}

fn no_rdns_dotcom_helo(relays: &[Relay]) -> bool {
    const DOTCOMS: &[&str] = &[
        "lycos.com",
        "lycos.co.uk",
        "hotmail.com",
        "localhost.com",
        "excite.com",
        "caramail.com",
        "cs.com",
        "aol.com",
        "msn.com",
        "yahoo.com",
        "drizzle.com",
    ];
    // Each public relay overrides the previous one's answer: the last one decides.
    let mut result = false;
    for r in relays.iter().filter(|r| !r.ip_private) {
        let helo = r.helo.to_ascii_lowercase();
        let dotcom = DOTCOMS
            .iter()
            .any(|d| helo == *d || helo.ends_with(&format!(".{d}")));
        result = dotcom && r.no_reverse_dns;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay(ip: &str, rdns: &str, helo: &str, by: &str) -> Relay {
        Relay {
            ip: ip.into(),
            rdns: rdns.into(),
            helo: helo.into(),
            by: by.into(),
            ip_private: is_private(ip),
            no_reverse_dns: rdns.is_empty(),
            ..Relay::default()
        }
    }

    #[test]
    fn helo_ip_mismatch_needs_a_public_numeric_helo_elsewhere() {
        assert!(helo_ip_mismatch(&relay(
            "203.0.113.9",
            "",
            "198.51.100.2",
            "mx"
        )));
        assert!(!helo_ip_mismatch(&relay(
            "203.0.113.9",
            "",
            "203.0.113.77",
            "mx"
        )));
        assert!(!helo_ip_mismatch(&relay(
            "203.0.113.9",
            "",
            "192.168.1.2",
            "mx"
        )));
        assert!(!helo_ip_mismatch(&relay(
            "203.0.113.9",
            "",
            "mail.example.org",
            "mx"
        )));
    }

    #[test]
    fn domains_as_spamassassin_shortens_them() {
        assert_eq!(host_domain("mx1.mail.example.com"), "example.com");
        assert_eq!(host_domain("a.b.co.uk"), "b.co.uk");
        assert_eq!(host_domain("mail.example.de"), "example.de");
        assert_eq!(host_domain("10.1.2.3"), "10.1.2.3");
        assert!(hostlike("mx.example.com") && !hostlike("localhost") && !hostlike(""));
    }

    #[test]
    fn forged_trail_counts_hops_that_disagree() {
        // Top hop first: each `by` should be the previous (newer) hop's rDNS domain... read
        // from the top: relay i's `by` is compared with relay i-1's rDNS.
        let honest = [
            relay(
                "198.51.100.1",
                "out.example.net",
                "out.example.net",
                "mx.example.org",
            ),
            relay("203.0.113.5", "a.example.com", "a", "out.example.net"),
        ];
        assert_eq!(forged_trail(&honest), 0);
        let forged = [
            relay("198.51.100.1", "out.example.net", "x", "mx.example.org"),
            relay("203.0.113.5", "b.spam.biz", "x", "relay.aol.com"),
            relay("203.0.113.6", "c.spam.biz", "x", "mail.yahoo.com"),
        ];
        assert_eq!(forged_trail(&forged), 2);
    }

    #[test]
    fn dotcom_helo_without_rdns() {
        assert!(no_rdns_dotcom_helo(&[relay(
            "203.0.113.5",
            "",
            "mx1.hotmail.com",
            "mx"
        )]));
        assert!(!no_rdns_dotcom_helo(&[relay(
            "203.0.113.5",
            "mx1.hotmail.com",
            "mx1.hotmail.com",
            "mx"
        )]));
        // The last public relay decides.
        assert!(!no_rdns_dotcom_helo(&[
            relay("203.0.113.5", "", "hotmail.com", "mx"),
            relay("203.0.113.6", "", "example.org", "mx"),
        ]));
    }
}
