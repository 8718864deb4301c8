//! The layouts of `Received:` fields' client parts that [`super`] matches, as data: the
//! MTA-specific blocks, the common layouts in the order they are tried, the local hand-overs
//! that are skipped and the SMTP AUTH indications.

/// Which capture group fills which field of a layout.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum F {
    Helo,
    Rdns,
    Ip,
    By,
    Ident,
    /// One name that is both the HELO and the rDNS name.
    HeloRdns,
    /// A group that is matched but ignored.
    Skip,
}

/// A known layout of the part after `from `.
pub(super) struct Shape {
    /// Only tried when this (regex) occurs in the field; `""`: always.
    pub(super) when: &'static str,
    /// Not tried when this occurs (qmail-ldap writes a layout that looks like sendmail's).
    pub(super) unless: &'static str,
    /// The layout; `{IP}` stands for an address.
    pub(super) pattern: &'static str,
    pub(super) fields: &'static [F],
    /// Whether the MTA looks names up in this layout (an empty rDNS then means "none").
    pub(super) dns: bool,
}

const fn s(when: &'static str, pattern: &'static str, fields: &'static [F], dns: bool) -> Shape {
    Shape {
        when,
        unless: "",
        pattern,
        fields,
        dns,
    }
}

pub(super) use F::{By, Helo, HeloRdns, Ident, Ip, Rdns, Skip};

/// The layouts, most specific first (learned from the formats SpamAssassin documents and
/// from real headers; the tests hold examples of each family).
/// MTA-specific layouts: the first block whose marker occurs in the field is the only one
/// tried (then the common layouts follow).
pub(super) static SPECIAL: &[(&str, &[Shape])] = &[
    // Microsoft SMTPSVC: `helo ([ip]) by host with Microsoft SMTPSVC`.
    (
        " SMTPSVC",
        &[s(
            "",
            r"^(\S*) \(\[({IP})\][^)]{0,40}\) by (\S+) with Microsoft SMTPSVC",
            &[Helo, Ip, By],
            false,
        )],
    ),
    // Exchange 2007+: `helo (ip) by host (ip) with Microsoft SMTP Server ... id 15.1.x`.
    (
        r" with (?:Microsoft SMTP Server|mapi id) (?:\([^)]+\) )?\d+\.\d+\.\d+\.\d+(?:$| )",
        &[s(
            "",
            r"^(\S+) \(\[?({IP})(?:%[A-Za-z0-9._~-]*)?\]?\) by (\S+) ",
            &[Helo, Ip, By],
            false,
        )],
    ),
    (
        r"\[XMail ",
        &[s(
            "",
            r"^(\S+) \((\[?{IP}\]?)(?::\d+)\) by (\S+)(?: \(\S+\))? with \[XMail",
            &[Helo, Ip, By],
            false,
        )],
    ),
    (
        r"\(ecelerity\b",
        &[
            s(
                "",
                r"^\(\[({IP}):\d+\] helo=(\S+)\) by (\S+) ",
                &[Ip, Helo, By],
                false,
            ),
            s("", r"^\S+ \(\[({IP}):\d+\]\) by (\S+) ", &[Ip, By], false),
        ],
    ),
    // Exim: handled in code (its layouts set fields piecemeal).
    ("Exim", &[]),
    // Postfix: `helo (rdns [ip]) by host (Postfix)`, `unknown` for no name.
    (
        r" \(Postfix\) with",
        &[
            s(
                "",
                r"^(\S+) \((\S+) \[({IP})\]\) by (\S+) ",
                &[Helo, Rdns, Ip, By],
                true,
            ),
            s(
                "",
                r"^(\S+) \((\S+)\[({IP})\]\) by (\S+) ",
                &[Helo, Rdns, Ip, By],
                true,
            ),
        ],
    ),
    (
        r"\(Scalix SMTP Relay",
        &[s(
            "",
            r"^(\S+) \( ?({IP})\) by (\S+)",
            &[Helo, Ip, By],
            false,
        )],
    ),
    // Lotus Domino never records the name.
    (
        r" \(Lotus Domino ",
        &[s(
            "",
            r"^(\S+) \(\[({IP})\]\) by (\S+) \(Lotus",
            &[Helo, Ip, By],
            false,
        )],
    ),
];

/// The common layouts, most specific first (learned from the formats SpamAssassin documents
/// and from real headers; the tests hold examples of each family).
pub(super) static SHAPES: &[Shape] = &[
    // Webmail: `ip ([ip]) by host with HTTP`.
    s(
        r"\bwith HTTP\b",
        r"^({IP}) \(\[{IP}\]\) by (\S+)",
        &[Ip, By],
        false,
    ),
    // sendmail: `helo (rdns [ip] ...) by host (`.
    Shape {
        when: "",
        unless: r" by \S+ \(qmail-\S+\) with ",
        pattern: r"^(\S+) \((\S+) \[({IP})\].*\) by (\S+) \(",
        fields: &[Helo, Rdns, Ip, By],
        dns: true,
    },
    s(
        "",
        r"^(\S+) \((\S+) \[({IP})\]\) by (\S+) with \S+ \(",
        &[Helo, Rdns, Ip, By],
        true,
    ),
    s(
        "",
        r"^(\S+) \(\[({IP})\] helo=(\S+)\) by (\S+) with ",
        &[Rdns, Ip, Helo, By],
        false,
    ),
    s(
        "",
        r"^(\S+) \(<unknown\S*>\[({IP})\]\) by (\S+) ",
        &[Helo, Ip, By],
        false,
    ),
    s(
        "",
        r"^(\S+) \((\S+\.\S+)\[({IP})\]\) by (\S+) ",
        &[Helo, Rdns, Ip, By],
        true,
    ),
    s(
        "",
        r"^(\S+) \((\S*)@\[({IP})\].*\) by (\S+) \(",
        &[Helo, Ident, Ip, By],
        true,
    ),
    // qpsmtpd, LMTP, and `rdns (HELO x) [ip]` layouts.
    s(
        "",
        r"^(\S+) \((?:HELO|EHLO) (\S*)\) \(({IP})\) by (\S+) \(qpsmtpd/\S+\) with (?:ESMTP|SMTP)",
        &[Rdns, Helo, Ip, By],
        false,
    ),
    s(
        "",
        r"^(\S+) \(LHLO (\S*)\) \(({IP})\) by (\S+) with LMTP",
        &[Rdns, Helo, Ip, By],
        false,
    ),
    s(
        "",
        r"^(\S+) \((?:HELO|EHLO) (\S*)\) \[({IP})\] by (\S+) \([^)]+\) with (?:ESMTP|SMTP)",
        &[Rdns, Helo, Ip, By],
        false,
    ),
    s(
        "",
        r"^(\S+) \(\[({IP})\]\) by (\S+) via smtpd \(for \S+\) with SMTP\(",
        &[Helo, Ip, By],
        false,
    ),
    // qmail: `rdns (HELO helo) (ident@[ip]) by host with SMTP`.
    s(
        "",
        r"^(\S+) \((?:HELO|EHLO) ([^ ()]*)\) \((\S*)@\[?({IP})\]?\)(?: \(envelope-sender <\S+>\))? by (\S+)(?: \(.+\))* with (?:.* )?(?:SMTP|QMQP)(?! id )",
        &[Rdns, Helo, Ident, Ip, By],
        true,
    ),
    s(
        "",
        r"^(\S+) \((?:HELO|EHLO) ([^ ()]*)\) \(\[?({IP})\]?\)(?: \(envelope-sender <\S+>\))? by (\S+)(?: \(.+\))* with (?:.* )?(?:SMTP|QMQP)(?! id )",
        &[Rdns, Helo, Ip, By],
        true,
    ),
    s(
        "",
        r"^(\S+) \((\S*)@\[?({IP})\]?\)(?: \(envelope-sender <\S+>\))? by (\S+)(?: \(.+\))* with (?:.* )?(?:SMTP|QMQP)(?! id )",
        &[HeloRdns, Ident, Ip, By],
        true,
    ),
    s(
        "",
        r"^(\S+) \(\[?({IP})\]?\)(?: \(envelope-sender <\S+>\))? by (\S+)(?: \(.+\))* with (?:.* )?(?:SMTP|QMQP)(?! id )",
        &[HeloRdns, Ip, By],
        true,
    ),
    s(
        " via HTTP$",
        r"^\[({IP})\] by (\S+) via HTTP$",
        &[Ip, By],
        false,
    ),
    s("", r"^\S+ \( \[({IP})\]\).*? by (\S+) ", &[Ip, By], false),
    s(
        "",
        r"^\((\S+) \[({IP})\]\) by (\S+) ",
        &[Helo, Ip, By],
        false,
    ),
    s("", r"^\[({IP})\] by (\S+) ", &[Ip, By], false),
    s("", r"^\(\[?({IP})\]?\) by (\S+) ", &[Ip, By], false),
    s(
        "",
        r"^(\S+) \[({IP})\] by (\S+) \[{IP}\] with ",
        &[Helo, Ip, By],
        true,
    ),
    s(
        "",
        r"^(\S+) \[\(({IP})\)\] by (\S+) \({IP}\) ",
        &[Helo, Ip, By],
        false,
    ),
    s(
        "",
        r"^(\S+) \(\[({IP})\]\) by (\S+) \(",
        &[Helo, Ip, By],
        true,
    ),
    // `helo (rdns [ip]) ... by host`; couriertcpd writes `softdnserr` for a failed lookup.
    s(
        "",
        r"^(\S+) \((\S+) \[({IP})\]\).*? by (\S+)\b",
        &[Helo, Rdns, Ip, By],
        true,
    ),
    s(
        "",
        r"^(\S+) \(\[({IP})(?:[.:]\d+)?\]\).*? by (\S+) ",
        &[Helo, Ip, By],
        true,
    ),
];

/// Layouts tried after the mail-fetcher check (`with POP3`/`IMAP` is skipped before them).
pub(super) static SHAPES_LATE: &[Shape] = &[
    s(
        "",
        r"^(\S+) \((?:HELO|EHLO) ([^)]*)\) \((?:(\S*)@)?\[?({IP})\]?\).* by (\S+) ",
        &[Rdns, Helo, Ident, Ip, By],
        true,
    ),
    s(
        "",
        r"^(\S+) \((?:(\S*)@)?\[?({IP})\]?\).* by (\S+) ",
        &[HeloRdns, Ident, Ip, By],
        true,
    ),
    s(
        " with http for ",
        r"^\[({IP})\] by (\S+) with http for ",
        &[Ip, By],
        false,
    ),
    s(
        " via smap ",
        r"^(\S+)\(({IP})\) by (\S+) via smap ",
        &[Rdns, Ip, By],
        true,
    ),
    s(
        "",
        r"^(\S+)\(({IP}), (?:HELO|EHLO) (\S*)\) by (\S+) via smap ",
        &[Rdns, Ip, Helo, By],
        true,
    ),
    s(r" \(Post", r"^\[({IP})\] by (\S+) \(Post", &[Ip, By], false),
    s(
        r" \(ArGoSoft",
        r"^\[({IP})\] by (\S+) \(ArGoSoft",
        &[Ip, By],
        false,
    ),
    s(
        "",
        r"^({IP}) by (\S+) \((?:SMTPL|InterScan)\b",
        &[Ip, By],
        false,
    ),
];

/// Layouts tried after the BSMTP check.
pub(super) static SHAPES_LAST: &[Shape] = &[
    s(
        "",
        r"^(\S+) \((\S+) \[({IP})\]\) by (\S+) with ",
        &[Helo, Rdns, Ip, By],
        true,
    ),
    s(
        "",
        r"^(\S+) \((?:HELO|EHLO) (\S*)\) \((?:(\S+)@)?({IP}).*?\) by (\S+) with ",
        &[Rdns, Helo, Ident, Ip, By],
        true,
    ),
    s(
        "",
        r"^\[({IP})\] \((?:account \S+ )?(?:HELO|EHLO) (\S*)\) by (\S+) \(",
        &[Ip, Helo, By],
        false,
    ),
    s(
        r" \(CommuniGate Pro",
        r"^(\S+) \(\[({IP})\] verified\) by (\S+) \(",
        &[HeloRdns, Ip, By],
        true,
    ),
    s("", r"^\(\[({IP})\]\) by (\S+) with ", &[Ip, By], false),
    s(
        "",
        r"^([^\d]\S+) \(({IP})\) by (\S+) ",
        &[Helo, Ip, By],
        false,
    ),
];

/// Layouts tried after the Content Technologies check.
pub(super) static SHAPES_TAIL: &[Shape] = &[
    s(
        "",
        r"^(\S+) \(\[({IP})\] \[(\S+)\]\) by (\S+) with ",
        &[Helo, Ip, Skip, By],
        false,
    ),
    s("", r"^({IP}) by (\S+) with ", &[Ip, By], false),
    s(
        "",
        r"^(\S+) \((\S+)\[({IP})\]\) by (\S+) ",
        &[Helo, Rdns, Ip, By],
        true,
    ),
    s(
        "",
        r"^\[({IP})\]\S+ \((?:HELO|EHLO) (\S*)\) by (\S+) ",
        &[Ip, Helo, By],
        false,
    ),
    s(
        "",
        r"^({IP}) \((?:HELO|EHLO) (\S*)\) by (\S+) ",
        &[Ip, Helo, By],
        false,
    ),
    s("", r"^(\S+) \[({IP})\] by (\S+) ", &[Helo, Ip, By], false),
    s("", r"^(\S+)\(({IP})\) by (\S+) ", &[Rdns, Ip, By], false),
    s("", r"^\[({IP})\] by (\S+) \(MailGate ", &[Ip, By], false),
    s(
        "",
        r"^(\S+) \(unverified \[({IP})\]\) by (\S+) ",
        &[Helo, Ip, By],
        false,
    ),
    s(
        "",
        r"^({IP}) \([A-Za-z][^)]+\) by (\S+) with ",
        &[Ip, By],
        false,
    ),
];

/// Hand-overs that carry no client address worth reading: skipped, not unparseable.
pub(super) static LOCAL_HANDOVERS: &[&str] = &[
    r"^\S+ \([^\s@]+@(?:localhost(?:\.localdomain)?|127\.0\.0\.1)\) by \S+ \(",
    r"^\S+ \S+ by \S+ with local-e?smtp ",
    r"^127\.0\.0\.1 \(AVG SMTP \S+ \[\S+\]\)",
    r"^\S+@\S+ by \S+ ",
    r"^Unknown/Local \(",
    r"^(?:localhost(?:\.localdomain)?|127\.0\.0\.1) \((?:\S+@)?(?:localhost(?:\.localdomain)?|127\.0\.0\.1)[)\[]",
    r"^\S+ \((?:\S+@)?(?:localhost(?:\.localdomain)?|127\.0\.0\.1)\) ",
    r"^\S+ \(\S+@\S+ \[(?:localhost(?:\.localdomain)?|127\.0\.0\.1)\]\) ",
    r"^\(AUTH: \S+\) by \S+ with ",
    r"^localhost \(localhost \[\[UNIX: localhost\]\]\) by ",
    r"^\S+\.amazon\.com by \S+\.amazon\.com with ESMTP \(peer crosscheck: ",
    r"^[^.]+ by \S+ with Novell_GroupWise",
    r"^no\.name\.available by \S+ via smtpd \(for ",
    r"^\S+ by \S+ \(.{0,100}\) with qmail-scanner",
    r"^\S+ by \S+ with local",
    r"^\S+ \(\[unix socket\]\) by \S+ \(Cyrus v[0-9]*?\.[0-9]*?\.[0-9]*?\) with LMTPA",
    r"^\S+ by \S+ (?:with|via|for|\()",
    r"^\S+ (?:(?:with|via|for) \S+|\(unverified\)) by\b",
    r"^\S+ \(unknown\) by \S+ \(SG\) with \b",
    r"^\S+ \(\S+ \[local\]\) by \S+ \(OpenSMTPD\) with \b",
    r"\(LSMTP for",
    r"^\(\[(?:localhost(?:\.localdomain)?|127\.0\.0\.1)\]\) with MailEnable ",
    r"^facebook\.com \([^)]+\) by facebook\.com with Thrift id \S+$",
    r"^\S+ named \S+ by gmailapi\.google\.com with HTTPREST$",
    r"^\S+ id \S+$",
    r"^\[<.*? \(Jetsend",
];

/// The SMTP AUTH indications, tried in order: (when, pattern, fixed name or `""` to take
/// group 1).
pub(super) static AUTH_MARKS: &[(&str, &str, &str)] = &[
    (
        " by ",
        r"(?i) with ((?:ES|L|UTF8S|UTF8L)MTPS?A|ASMTP|HTTP[SU]?)(?: |;|$)",
        "",
    ),
    (
        "",
        r"^from .*?(?:\]\)|\)\]) \(AUTH: (LOGIN|PLAIN|DIGEST-MD5|CRAM-MD5) \S+(?:, .*?)?\) by ",
        "",
    ),
    (
        "authenticated",
        r"^from .*?(?:\](?: \([^)]*\))?\)|\)\]) .*?\(.*?authenticated.*?\).*? by",
        "Sendmail",
    ),
    (
        " (authenticated as ",
        r"\) by .+ \(\d{1,2}\.\d\.\d{3}(?:\.\d{1,3})?\) \(authenticated as .+\) id ",
        "CriticalPath",
    ),
    (
        "",
        r"\) \(Authenticated sender: \S+\) by \S+ \(([^)]+)\) with ",
        "postfix",
    ),
    (
        "",
        r"CommuniGate Pro (?:HTTP|SMTP|XIMSS|IMAP).* \(account ",
        "Communigate",
    ),
    (
        "",
        r" with Microsoft Exchange Server HTTP-DAV\b",
        "HTTP-DAV",
    ),
    (" by ", r"(?i) \(via (HTTP.?)\)(?: |;|$)", ""),
];
