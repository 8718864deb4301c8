//! The parser's tables: the emulated SpamAssassin version and plugins, the plugins
//! SpamAssassin itself loads, `can(...)` features, ignored settings, unsupported rule types,
//! rule keywords and known `tflags`, and the `include` limits.

/// The SpamAssassin version this emulates for `if (version >= N)`.
pub(super) const EMULATED_VERSION: f64 = 4.0;
/// Nesting limit for `include`.
pub(super) const MAX_INCLUDE_DEPTH: usize = 16;
/// Files read through `include` in one load, at most: without a loop, files that include the
/// same files several times over could still multiply to millions of reads.
pub(super) const MAX_INCLUDES: usize = 1000;

/// Plugins whose rules mailsift can evaluate (some of their evals may still be missing; those
/// rules are reported one by one).
pub(super) const EMULATED_PLUGINS: &[&str] = &[
    "Check",
    "Bayes",
    "BodyEval",
    "HeaderEval",
    "HTMLEval",
    "MIMEEval",
    "FromNameSpoof",
    "RelayEval",
    "ReplaceTags",
    // Issue #12: plugins emulated locally (their settings in super::plugconf).
    "VBounce",
    "WLBLEval",
    "FreeMail",
    "MIMEHeader",
    "ImageInfo",
    "URIEval",
    "HTTPSMismatch",
    "WelcomeListSubject",
];

/// Plugins SpamAssassin loads whose every test needs the network (DNS lookups of keys, policy
/// and sender records): with `dns_available no`, as mailsift always runs, none of their tests
/// hit in SpamAssassin (corpora/SA-FIDELITY.md, "SPF, DKIM, DMARC results"). Their `ifplugin`
/// and `if plugin(...)` blocks are read as SpamAssassin reads them (the rule files' variants for
/// a SpamAssassin without these plugins, such as `__NOT_SPOOFED` from `__DKIM_EXISTS`, are off
/// there), and their tests are skipped as never hitting ([`network_eval`]; AskDNS's `askdns`
/// rules as [`UNSUPPORTED_RULE_TYPES`], so metas over them take them as not hitting, as
/// SpamAssassin does: `__PDS_HP_HELO_NODNS`, `__HELO_HIGHPROFILE && !__HELO_DNS`, hits there).
pub(super) const NETWORK_PLUGINS: &[&str] = &[
    "DKIM", "SPF", "DMARC", "AskDNS", "DNSEval", "URIDNSBL", "Razor2", "Pyzor", "HashBL",
];

/// Whether `if plugin(...)` and `ifplugin` blocks of `plugin` are read as loaded: the emulated
/// plugins and the network ones.
pub(super) fn read_as_loaded(plugin: &str) -> bool {
    EMULATED_PLUGINS.contains(&plugin) || NETWORK_PLUGINS.contains(&plugin)
}

/// The plugin of [`NETWORK_PLUGINS`] an eval test belongs to, by its name.
pub(super) fn network_eval(name: &str) -> Option<&'static str> {
    const PREFIXES: &[(&str, &str)] = &[
        ("check_dkim_", "DKIM"),
        ("check_for_dkim_", "DKIM"),
        ("check_for_def_dkim_", "DKIM"),
        ("check_for_spf_", "SPF"),
        ("check_for_def_spf_", "SPF"),
        ("check_dmarc_", "DMARC"),
        ("check_rbl", "DNSEval"),
        ("check_dns_sender", "DNSEval"),
        ("check_uridnsbl", "URIDNSBL"),
        ("check_razor2", "Razor2"),
        ("check_pyzor", "Pyzor"),
        ("check_hashbl_", "HashBL"),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .map(|&(_, plugin)| plugin)
}

/// The network plugin a block that is off is for, from why it is off: a feature of one of
/// [`NETWORK_PLUGINS`] (`can(Mail::SpamAssassin::Plugin::DKIM::has_arc)`; DecodeShortURLs
/// fetches a short URL's target over HTTP), or a network plugin mailsift does not emulate
/// (`ifplugin ...::DCC`: DCC's checksums, ASN's DNS lookups, SpamCop's reports). The rules in
/// such a block are network tests in SpamAssassin, which without network tests never hits
/// them.
pub(super) fn network_feature(why: &str) -> Option<&'static str> {
    const NOT_EMULATED: &[&str] = &["DCC", "ASN", "SpamCop"];
    NETWORK_PLUGINS
        .iter()
        .chain(&["DecodeShortURLs"])
        .find(|p| why.contains(&format!("Plugin::{p}::")))
        .or_else(|| {
            NOT_EMULATED
                .iter()
                .find(|p| why.contains(&format!("plugin {p} is not emulated")))
        })
        .copied()
}

pub(super) use crate::rules::issues::NEEDS_NETWORK;

/// The plugins SpamAssassin 4.0.1 loads as installed (the `loadplugin` lines of Debian's
/// /etc/spamassassin/*.pre); `loadplugin` lines in the rule files add to them. A rule defined
/// only under a plugin outside this list is undefined in SpamAssassin too, so a meta over it is
/// dropped (SpamAssassin drops metas with undefined dependencies).
pub(super) const SPAMASSASSIN_PLUGINS: &[&str] = &[
    "AskDNS",
    "AutoLearnThreshold",
    "Bayes",
    "BodyEval",
    "Check",
    "DKIM",
    "DMARC",
    "DNSEval",
    "FreeMail",
    "HTMLEval",
    "HTTPSMismatch",
    "HashBL",
    "HeaderEval",
    "ImageInfo",
    "MIMEEval",
    "MIMEHeader",
    "Pyzor",
    "Razor2",
    "RelayEval",
    "ReplaceTags",
    "Rule2XSBody",
    "SPF",
    "SpamCop",
    "URIDNSBL",
    "URIDetail",
    "URIEval",
    "VBounce",
    "WLBLEval",
    "WelcomeListSubject",
];

/// `can(...)` features this emulation has.
pub(super) const FEATURES: &[&str] = &[
    "feature_bug6558_free",
    "feature_welcomelist_blocklist",
    "feature_originating_ip_headers",
    "feature_capture_rules",
    // `util_rb_tld`, `util_rb_2tld`, `util_rb_3tld` and `clear_util_rb` (plugconf.rs): the
    // stock 20_aux_tlds.cf lists the IDN top-level domains (`xn--p1ai`) under this test.
    "feature_registryboundaries",
    "perl_min_version_5010000",
    "has_check_body_length",
    "has_check_for_ascii_text_illegal",
    "has_check_abundant_unicode_ratio",
];

/// SpamAssassin settings that configure things mailsift does not have (network tests, lists,
/// reports, Bayes internals). They are accepted and ignored, reported once per file as info.
pub(super) const IGNORED_SETTINGS: &[&str] = &[
    "loadplugin",
    "tryplugin",
    "require_version",
    "lang",
    "priority",
    "reuse",
    "test",
    "report",
    "clear_report_template",
    "unsafe_report",
    "clear_unsafe_report_template",
    "report_safe",
    "report_contact",
    "required_score",
    "add_header",
    "clear_headers",
    "remove_header",
    "util_rb_tld",
    "util_rb_2tld",
    "util_rb_3tld",
    "clear_util_rb",
    "def_whitelist_auth",
    "def_welcomelist_auth",
    "def_whitelist_from_dkim",
    "def_welcomelist_from_dkim",
    "def_whitelist_from_spf",
    "def_welcomelist_from_spf",
    "bayes_ignore_header",
    "bayes_stopword_en",
    "url_shortener",
    "url_shortener_get",
    "enlist_uri_host",
    "enlist_addrlist",
    "adsp_override",
    "uridnsbl_skip_domain",
    "dns_local_ports_avoid",
    "redirector_pattern",
    "ok_locales",
    "ok_languages",
    "fns_ignore_headers",
    "fns_ignore_dkim",
    "fns_check",
    "dns_block_rule",
    "use_bayes",
    "bayes_auto_learn",
    "skip_rbl_checks",
];

/// Rule types SpamAssassin has and mailsift does not evaluate; a rule of these types is skipped.
/// With `true`, the type's tests need the network: the skip says so ([`NEEDS_NETWORK`]), and a
/// meta over such a rule is as faithful as SpamAssassin's without network tests.
pub(super) const UNSUPPORTED_RULE_TYPES: &[(&str, &str, bool)] = &[
    ("uri_detail", "needs the URIDetail plugin", false),
    ("askdns", "a network (DNS) test", true),
    ("urirhssub", "a network (DNS blocklist) test", true),
    ("urirhsbl", "a network (DNS blocklist) test", true),
    ("uridnsbl", "a network (DNS blocklist) test", true),
    ("uridnssub", "a network (DNS blocklist) test", true),
    ("hashbl", "a network (DNS blocklist) test", true),
];

/// Rule-defining keywords, for "did you mean" hints on typos.
pub(super) const RULE_KEYWORDS: &[&str] = &[
    "header", "body", "rawbody", "uri", "full", "meta", "score", "describe", "tflags", "include",
];

/// Known `tflags`; anything else is a warning.
pub(super) const KNOWN_TFLAGS: &[&str] = &[
    "nice",
    "net",
    "learn",
    "userconf",
    "noautolearn",
    "autolearn_force",
    "multiple",
    "publish",
    "nopublish",
    "a",
    "domains_only",
    "noawl",
    "nosubject",
];
