//! The rule-file parser: SpamAssassin configuration syntax into rules, with lint issues.
//!
//! Line-oriented, like SpamAssassin: `#` starts a comment (a `\#` is a literal `#`), blank lines
//! are skipped, the first word is the keyword. Anything it cannot honour exactly is reported as
//! a [`LintIssue`] with its file and line; a rule that cannot be evaluated faithfully is skipped,
//! never guessed at.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::evals;
use super::meta::{self, Expr};
use super::pattern::Pattern;
use super::perlre;
use super::{HeaderTarget, LintIssue, Rule, RuleKind, Severity, Test};

/// The SpamAssassin version this emulates for `if (version >= N)`.
const EMULATED_VERSION: f64 = 4.0;
/// Nesting limit for `include`.
const MAX_INCLUDE_DEPTH: usize = 16;
/// Files read through `include` in one load, at most: without a loop, files that include the
/// same files several times over could still multiply to millions of reads.
const MAX_INCLUDES: usize = 1000;

/// Plugins whose rules mailsift can evaluate (some of their evals may still be missing; those
/// rules are reported one by one).
const EMULATED_PLUGINS: &[&str] = &[
    "Check",
    "Bayes",
    "BodyEval",
    "HeaderEval",
    "HTMLEval",
    "MIMEEval",
    "FromNameSpoof",
    "RelayEval",
    "ReplaceTags",
];

/// `can(...)` features this emulation has.
const FEATURES: &[&str] = &[
    "feature_bug6558_free",
    "feature_welcomelist_blocklist",
    "perl_min_version_5010000",
    "has_check_body_length",
];

/// SpamAssassin settings that configure things mailsift does not have (network tests, lists,
/// reports, Bayes internals). They are accepted and ignored, reported once per file as info.
const IGNORED_SETTINGS: &[&str] = &[
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
    "freemail_domains",
    "freemail_whitelist",
    "freemail_welcomelist",
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
    "whitelist_from",
    "welcomelist_from",
    "blacklist_from",
    "blocklist_from",
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
    "originating_ip_headers",
    "clear_originating_ip_headers",
    "ok_locales",
    "ok_languages",
    "fns_ignore_headers",
    "fns_ignore_dkim",
    "fns_check",
    "dns_block_rule",
    "trusted_networks",
    "internal_networks",
    "use_bayes",
    "bayes_auto_learn",
    "skip_rbl_checks",
];

/// Rule types SpamAssassin has and mailsift does not evaluate; a rule of these types is skipped.
const UNSUPPORTED_RULE_TYPES: &[(&str, &str)] = &[
    (
        "mimeheader",
        "MIME part headers are not exposed to rules; use 'header' or an eval",
    ),
    ("uri_detail", "needs the URIDetail plugin"),
    ("askdns", "network (DNS) test"),
    ("urirhssub", "network (DNS blocklist) test"),
    ("urirhsbl", "network (DNS blocklist) test"),
    ("uridnsbl", "network (DNS blocklist) test"),
    ("uridnssub", "network (DNS blocklist) test"),
    ("hashbl", "network (DNS blocklist) test"),
];

/// Rule-defining keywords, for "did you mean" hints on typos.
const RULE_KEYWORDS: &[&str] = &[
    "header", "body", "rawbody", "uri", "full", "meta", "score", "describe", "tflags", "include",
];

/// Known `tflags`; anything else is a warning.
const KNOWN_TFLAGS: &[&str] = &[
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

/// One input text.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// How issues name it (a path or `<default>`).
    pub origin: String,
    /// The text.
    pub text: Cow<'static, str>,
    /// For files: the file's path, so `include` resolves relative to it.
    pub path: Option<PathBuf>,
}

/// Reads an included file.
pub(crate) type Reader<'a> = &'a dyn Fn(&Path) -> std::io::Result<String>;

#[derive(Default)]
struct Pending {
    scores: HashMap<String, (f64, String, usize)>,
    describes: HashMap<String, String>,
    tflags: HashMap<String, (String, String, usize)>,
    replace_tags: HashMap<String, String>,
    replace_rules: HashSet<String>,
    replace_pre: String,
    replace_inter: String,
    replace_post: String,
}

/// Accumulates rules and issues across sources.
pub(crate) struct Builder<'r> {
    pub rules: Vec<Rule>,
    pub index: HashMap<String, usize>,
    pub issues: Vec<LintIssue>,
    /// Rules skipped as unsupported: name → reason.
    skipped: HashMap<String, String>,
    /// Rules defined only inside inactive `ifplugin`/`if` blocks: name → (origin, line, why).
    inactive: BTreeMap<String, (String, usize, String)>,
    /// Ignored settings seen: (origin, keyword) → (first line, count).
    ignored: BTreeMap<(String, String), (usize, usize)>,
    pending: Pending,
    reader: Reader<'r>,
    /// The files being read, outermost first (an `include` of one of them is a loop).
    include_stack: Vec<PathBuf>,
    includes: usize,
    /// An include loop (or too many includes): loading fails with this.
    pub fatal: Option<String>,
}

struct Cond {
    /// Whether lines here are active (this and all enclosing conditions hold).
    active: bool,
    /// Whether the enclosing block is active (for `else`).
    parent_active: bool,
    /// The condition's value.
    value: bool,
    /// Why the block is off, for reporting.
    why: String,
}

impl<'r> Builder<'r> {
    pub(crate) fn new(reader: Reader<'r>) -> Self {
        Builder {
            rules: Vec::new(),
            index: HashMap::new(),
            issues: Vec::new(),
            skipped: HashMap::new(),
            inactive: BTreeMap::new(),
            ignored: BTreeMap::new(),
            pending: Pending::default(),
            reader,
            include_stack: Vec::new(),
            includes: 0,
            fatal: None,
        }
    }

    fn issue(&mut self, sev: Severity, origin: &str, line: usize, rule: Option<&str>, msg: String) {
        self.issues.push(LintIssue {
            origin: origin.to_owned(),
            line,
            rule: rule.map(str::to_owned),
            message: msg,
            severity: sev,
        });
    }

    /// Parses one source (and what it includes).
    pub(crate) fn add_source(&mut self, src: &Source) {
        if let Some(p) = &src.path {
            self.include_stack
                .push(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
        }
        self.add_text(&src.origin, &src.text, src.path.as_deref(), 0);
        if src.path.is_some() {
            self.include_stack.pop();
        }
    }

    fn add_text(&mut self, origin: &str, text: &str, path: Option<&Path>, depth: usize) {
        let mut conds: Vec<Cond> = Vec::new();
        for (i, raw_line) in text.lines().enumerate() {
            let lineno = i + 1;
            let line = strip_comment(raw_line);
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (kw, rest) = split_word(line);
            let kw_lower = kw.to_ascii_lowercase();
            let active = conds.last().is_none_or(|c| c.active);
            match kw_lower.as_str() {
                "ifplugin" | "if" => {
                    let (value, why) = if kw_lower == "ifplugin" {
                        let name = rest.split_whitespace().next().unwrap_or("");
                        let short = name.rsplit("::").next().unwrap_or(name);
                        (
                            EMULATED_PLUGINS.contains(&short),
                            format!("plugin {short} is not emulated"),
                        )
                    } else {
                        match eval_if(rest) {
                            Ok(v) => (v, format!("condition '{rest}' is false here")),
                            Err(e) => {
                                if active {
                                    self.issue(
                                        Severity::Warning,
                                        origin,
                                        lineno,
                                        None,
                                        format!("cannot evaluate 'if {rest}' ({e}); block skipped"),
                                    );
                                }
                                (false, format!("condition '{rest}' not understood"))
                            }
                        }
                    };
                    conds.push(Cond {
                        active: active && value,
                        parent_active: active,
                        value,
                        why,
                    });
                }
                "else" => match conds.last_mut() {
                    Some(c) => {
                        c.value = !c.value;
                        c.active = c.parent_active && c.value;
                    }
                    None => self.issue(
                        Severity::Error,
                        origin,
                        lineno,
                        None,
                        "'else' without 'if'".into(),
                    ),
                },
                "endif" => {
                    if conds.pop().is_none() {
                        self.issue(
                            Severity::Error,
                            origin,
                            lineno,
                            None,
                            "'endif' without 'if'".into(),
                        );
                    }
                }
                _ if !active => {
                    // Remember rule definitions we skip, to report them if nothing else
                    // defines them.
                    if is_rule_keyword(&kw_lower) {
                        let name = rest.split_whitespace().next().unwrap_or("");
                        let why = conds
                            .iter()
                            .rev()
                            .find(|c| !c.value)
                            .map(|c| c.why.clone())
                            .unwrap_or_default();
                        self.inactive.entry(name.to_owned()).or_insert((
                            origin.to_owned(),
                            lineno,
                            why,
                        ));
                    }
                }
                _ => self.directive(origin, lineno, &kw_lower, kw, rest, path, depth),
            }
        }
        if !conds.is_empty() {
            self.issue(
                Severity::Warning,
                origin,
                text.lines().count(),
                None,
                format!(
                    "{} 'if'/'ifplugin' block(s) not closed by 'endif'",
                    conds.len()
                ),
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn directive(
        &mut self,
        origin: &str,
        line: usize,
        kw: &str,
        kw_orig: &str,
        rest: &str,
        path: Option<&Path>,
        depth: usize,
    ) {
        match kw {
            "header" | "body" | "rawbody" | "uri" | "full" | "meta" => {
                self.rule_line(origin, line, kw, rest);
            }
            "score" => {
                let mut it = rest.split_whitespace();
                let name = it.next().unwrap_or("");
                let vals: Vec<&str> = it.collect();
                let parsed: Result<Vec<f64>, _> = vals
                    .iter()
                    .map(|v| {
                        v.trim_start_matches('(')
                            .trim_end_matches(')')
                            .parse::<f64>()
                    })
                    .collect();
                match (name.is_empty(), parsed) {
                    (false, Ok(v)) if v.len() == 1 || v.len() == 4 => {
                        // Four scores are SpamAssassin's score sets (Bayes off/on x network
                        // off/on); mailsift always has Bayes and never network tests: set 2.
                        let s = if v.len() == 4 { v[2] } else { v[0] };
                        self.pending
                            .scores
                            .insert(name.to_owned(), (s, origin.to_owned(), line));
                    }
                    _ => self.issue(
                        Severity::Error,
                        origin,
                        line,
                        Some(name),
                        "score needs a rule name and 1 or 4 numbers: 'score NAME 1.5'".into(),
                    ),
                }
            }
            "describe" => {
                let (name, text) = split_word(rest);
                if name.is_empty() {
                    self.issue(
                        Severity::Error,
                        origin,
                        line,
                        None,
                        "describe needs a rule name".into(),
                    );
                } else {
                    self.pending
                        .describes
                        .insert(name.to_owned(), text.trim().to_owned());
                }
            }
            "tflags" => {
                let (name, flags) = split_word(rest);
                self.pending.tflags.insert(
                    name.to_owned(),
                    (flags.trim().to_owned(), origin.to_owned(), line),
                );
            }
            "include" => self.include(origin, line, rest.trim(), path, depth),
            "replace_tag" | "replace_pre" | "replace_inter" | "replace_post" => {
                let (name, value) = split_word(rest);
                let value = value.trim().to_owned();
                match kw {
                    "replace_tag" => {
                        self.pending.replace_tags.insert(name.to_owned(), value);
                    }
                    "replace_pre" => {
                        self.pending.replace_pre = format!("{name} {value}").trim().to_owned();
                    }
                    "replace_inter" => {
                        self.pending.replace_inter = format!("{name} {value}").trim().to_owned();
                    }
                    _ => self.pending.replace_post = format!("{name} {value}").trim().to_owned(),
                }
            }
            "replace_rules" => {
                for name in rest.split_whitespace() {
                    self.pending.replace_rules.insert(name.to_owned());
                }
            }
            "replace_start" | "replace_end" => {
                self.issue(
                    Severity::Warning,
                    origin,
                    line,
                    None,
                    format!("'{kw}' is not supported; tags keep the default <NAME> form"),
                );
            }
            _ => {
                if let Some((_, why)) = UNSUPPORTED_RULE_TYPES.iter().find(|(k, _)| *k == kw) {
                    let name = rest.split_whitespace().next().unwrap_or("");
                    self.skip(
                        origin,
                        line,
                        name,
                        format!("'{kw}' rules are not supported: {why}"),
                    );
                } else if IGNORED_SETTINGS.contains(&kw)
                    || kw.starts_with("bayes_")
                    || kw.starts_with("def_")
                    || kw.starts_with("dns_")
                {
                    let e = self
                        .ignored
                        .entry((origin.to_owned(), kw.to_owned()))
                        .or_insert((line, 0));
                    e.1 += 1;
                } else if let Some(k) = RULE_KEYWORDS.iter().find(|k| edit_distance(k, kw) <= 2) {
                    self.issue(
                        Severity::Error,
                        origin,
                        line,
                        None,
                        format!("unknown keyword '{kw_orig}'; did you mean '{k}'?"),
                    );
                } else {
                    let e = self
                        .ignored
                        .entry((origin.to_owned(), kw.to_owned()))
                        .or_insert((line, 0));
                    e.1 += 1;
                }
            }
        }
    }

    fn include(
        &mut self,
        origin: &str,
        line: usize,
        target: &str,
        path: Option<&Path>,
        depth: usize,
    ) {
        if depth >= MAX_INCLUDE_DEPTH {
            self.issue(
                Severity::Error,
                origin,
                line,
                None,
                format!("include nested more than {MAX_INCLUDE_DEPTH} deep (a cycle?); skipped"),
            );
            return;
        }
        let Some(base) = path else {
            self.issue(
                Severity::Error,
                origin,
                line,
                None,
                format!("cannot include '{target}' from {origin}: it is not a file"),
            );
            return;
        };
        let full = base
            .parent()
            .map_or_else(|| PathBuf::from(target), |d| d.join(target));
        if self.fatal.is_some() {
            return;
        }
        let key = std::fs::canonicalize(&full).unwrap_or_else(|_| full.clone());
        if self.include_stack.contains(&key) {
            let chain: Vec<String> = self
                .include_stack
                .iter()
                .chain(std::iter::once(&key))
                .map(|p| p.display().to_string())
                .collect();
            let why = format!("include loop: {}", chain.join(" includes "));
            self.issue(Severity::Error, origin, line, None, why.clone());
            self.fatal = Some(why);
            return;
        }
        self.includes += 1;
        if self.includes > MAX_INCLUDES {
            let why = format!(
                "more than {MAX_INCLUDES} files included (the same files included over and over?)"
            );
            self.issue(Severity::Error, origin, line, None, why.clone());
            self.fatal = Some(why);
            return;
        }
        match (self.reader)(&full) {
            Ok(text) => {
                let o = full.display().to_string();
                self.include_stack.push(key);
                self.add_text(&o, &text, Some(&full), depth + 1);
                self.include_stack.pop();
            }
            Err(e) => self.issue(
                Severity::Error,
                origin,
                line,
                None,
                format!("cannot include {}: {e}", full.display()),
            ),
        }
    }

    fn skip(&mut self, origin: &str, line: usize, name: &str, why: String) {
        self.skipped.insert(name.to_owned(), why.clone());
        // A skipped redefinition removes the earlier, supported one: SpamAssassin would use
        // the later line, so keeping the old one would score something else.
        if let Some(&i) = self.index.get(name) {
            self.rules[i].disabled = true;
        }
        self.issue(
            Severity::Error,
            origin,
            line,
            Some(name),
            format!("{why}; rule skipped"),
        );
    }

    fn rule_line(&mut self, origin: &str, line: usize, kw: &str, rest: &str) {
        let (name, def) = split_word(rest);
        if !valid_name(name) {
            self.issue(
                Severity::Error,
                origin,
                line,
                None,
                format!("'{name}' is not a valid rule name (letters, digits and '_')"),
            );
            return;
        }
        let def = def.trim();
        let kind = match kw {
            "header" => RuleKind::Header,
            "body" => RuleKind::Body,
            "rawbody" => RuleKind::RawBody,
            "uri" => RuleKind::Uri,
            "full" => RuleKind::Full,
            _ => RuleKind::Meta,
        };
        let test = match self.rule_test(kind, name, def) {
            Ok(t) => t,
            Err(msg) => {
                self.skip(origin, line, name, msg);
                return;
            }
        };
        self.skipped.remove(name);
        let rule = Rule {
            name: name.to_owned(),
            kind,
            test,
            score: 0.0,
            description: String::new(),
            origin: origin.to_owned(),
            line,
            source: format!("{kw} {name} {def}"),
            max_hits: 1,
            disabled: false,
        };
        match self.index.get(name) {
            Some(&i) => self.rules[i] = rule,
            None => {
                self.index.insert(name.to_owned(), self.rules.len());
                self.rules.push(rule);
            }
        }
    }

    fn pattern(
        &self,
        name: &str,
        text: &str,
        line_anchors: bool,
    ) -> Result<(Pattern, String), String> {
        let (body, flags, rest) = perlre::split_delimited(text)?;
        let body = if self.pending.replace_rules.contains(name) {
            self.replace_tags(body)?
        } else {
            Cow::Borrowed(body)
        };
        let t = perlre::translate(&body, flags)?;
        Ok((Pattern::new(t, line_anchors), rest.trim().to_owned()))
    }

    /// Applies `replace_tag`s: `<TAG>` becomes its value; between two adjacent tags
    /// `replace_inter` is inserted, and `replace_pre`/`replace_post` wrap each tag.
    fn replace_tags<'a>(&self, body: &'a str) -> Result<Cow<'a, str>, String> {
        let mut out = String::with_capacity(body.len() * 2);
        let mut rest = body;
        let mut prev_was_tag = false;
        let mut replaced = false;
        while let Some(start) = rest.find('<') {
            let after = &rest[start + 1..];
            let end = after.find('>');
            let tag = end.map(|e| &after[..e]);
            match tag.and_then(|t| self.pending.replace_tags.get(t).map(|v| (t, v))) {
                Some((t, value)) => {
                    if start > 0 {
                        prev_was_tag = false;
                    }
                    out.push_str(&rest[..start]);
                    if prev_was_tag {
                        out.push_str(&self.pending.replace_inter);
                    }
                    out.push_str(&self.pending.replace_pre);
                    out.push_str(&self.expand_nested(value, 0)?);
                    out.push_str(&self.pending.replace_post);
                    rest = &after[t.len() + 1..];
                    prev_was_tag = true;
                    replaced = true;
                }
                None => {
                    out.push_str(&rest[..=start]);
                    rest = after;
                    prev_was_tag = false;
                }
            }
        }
        out.push_str(rest);
        Ok(if replaced {
            Cow::Owned(out)
        } else {
            Cow::Borrowed(body)
        })
    }

    fn expand_nested(&self, value: &str, depth: usize) -> Result<String, String> {
        if depth > 8 {
            return Err("replace_tag values nest too deeply".into());
        }
        let mut out = String::new();
        let mut rest = value;
        while let Some(start) = rest.find('<') {
            let after = &rest[start + 1..];
            match after
                .find('>')
                .and_then(|e| self.pending.replace_tags.get(&after[..e]).map(|v| (e, v)))
            {
                Some((e, v)) => {
                    out.push_str(&rest[..start]);
                    out.push_str(&self.expand_nested(v, depth + 1)?);
                    rest = &after[e + 1..];
                }
                None => {
                    out.push_str(&rest[..=start]);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn rule_test(&self, kind: RuleKind, name: &str, def: &str) -> Result<Test, String> {
        if def.is_empty() {
            return Err("rule has no test".into());
        }
        if kind == RuleKind::Meta {
            return meta::parse(def).map(Test::Meta);
        }
        if let Some(call) = def.strip_prefix("eval:") {
            let (fname, args) = evals::parse_call(call)?;
            let Some(e) = evals::find(&fname) else {
                return Err(format!("eval:{fname} is not a built-in test of mailsift"));
            };
            e.check(&args)
                .map_err(|m| format!("eval:{fname}{}: {m}", e.signature))?;
            return Ok(Test::Eval { def: e, args });
        }
        if kind == RuleKind::Header {
            if let Some(h) = def.strip_prefix("exists:") {
                let h = h.trim();
                if h.is_empty() || h.contains(char::is_whitespace) {
                    return Err("exists: needs one header name".into());
                }
                return Ok(Test::Exists(h.to_owned()));
            }
            let (field, rest) = split_word(def);
            let rest = rest.trim_start();
            let (negate, rest) = if let Some(r) = rest.strip_prefix("=~") {
                (false, r)
            } else if let Some(r) = rest.strip_prefix("!~") {
                (true, r)
            } else {
                return Err("header rule needs 'Field =~ /re/' or 'Field !~ /re/'".into());
            };
            let target = HeaderTarget::parse(field)?;
            let (pattern, tail) = self.pattern(name, rest, false)?;
            let if_unset = parse_if_unset(&tail)?;
            return Ok(Test::Header {
                target,
                pattern,
                negate,
                if_unset,
            });
        }
        let line_anchors = matches!(kind, RuleKind::Body | RuleKind::RawBody);
        let (pattern, tail) = self.pattern(name, def, line_anchors)?;
        if !tail.is_empty() {
            return Err(format!("unexpected text after the pattern: '{tail}'"));
        }
        Ok(Test::Regex(pattern))
    }

    /// Applies scores, descriptions and tflags; resolves metas; reports leftovers.
    pub(crate) fn finish(mut self) -> (Vec<Rule>, HashMap<String, usize>, Vec<LintIssue>) {
        let pending = std::mem::take(&mut self.pending);
        for rule in &mut self.rules {
            rule.score = match pending.scores.get(&rule.name) {
                Some((s, _, _)) => *s,
                // SpamAssassin's defaults: sub-rules score nothing, testing rules 0.01.
                None if rule.name.starts_with("__") => 0.0,
                None if rule.name.starts_with("T_") => 0.01,
                None => 1.0,
            };
            if let Some(d) = pending.describes.get(&rule.name) {
                rule.description.clone_from(d);
            }
        }
        let mut tflag_issues = Vec::new();
        for (name, (flags, origin, line)) in &pending.tflags {
            let Some(&i) = self.index.get(name) else {
                continue;
            };
            for f in flags.split_whitespace() {
                if f == "multiple" {
                    if self.rules[i].max_hits == 1 {
                        self.rules[i].max_hits = 1000;
                    }
                } else if let Some(n) = f.strip_prefix("maxhits=") {
                    match n.parse::<u32>() {
                        Ok(n) if n > 0 => self.rules[i].max_hits = n.min(1000),
                        _ => tflag_issues.push((
                            origin.clone(),
                            *line,
                            name.clone(),
                            format!("bad tflags '{f}'"),
                        )),
                    }
                } else if !KNOWN_TFLAGS.contains(&f) && !f.starts_with("range=") {
                    tflag_issues.push((
                        origin.clone(),
                        *line,
                        name.clone(),
                        format!("tflags '{f}' is not supported; rule kept without it"),
                    ));
                }
            }
        }
        for (o, l, n, m) in tflag_issues {
            self.issue(Severity::Warning, &o, l, Some(&n), m);
        }
        // Resolve meta references.
        let index = &self.index;
        let skipped = &self.skipped;
        let inactive = &self.inactive;
        let mut meta_issues = Vec::new();
        for rule in &mut self.rules {
            let Test::Meta(expr) = &mut rule.test else {
                continue;
            };
            let mut missing: Vec<String> = Vec::new();
            expr.for_each_ref_mut(&mut |name, idx| {
                *idx = index.get(name).copied();
                if idx.is_none() && !missing.iter().any(|m| m == name) {
                    missing.push(name.to_owned());
                }
            });
            if !missing.is_empty() {
                let what: Vec<String> = missing
                    .iter()
                    .map(|m| {
                        if skipped.contains_key(m) {
                            format!("{m} (unsupported)")
                        } else if let Some((_, _, why)) = inactive.get(m) {
                            format!("{m} ({why})")
                        } else {
                            format!("{m} (undefined)")
                        }
                    })
                    .collect();
                meta_issues.push((
                    rule.origin.clone(),
                    rule.line,
                    rule.name.clone(),
                    format!("meta uses rules that never hit here: {}", what.join(", ")),
                ));
            }
        }
        for (o, l, n, m) in meta_issues {
            self.issue(Severity::Warning, &o, l, Some(&n), m);
        }
        // Disabled rules count as not hitting in metas.
        let disabled: HashSet<usize> = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.disabled)
            .map(|(i, _)| i)
            .collect();
        if !disabled.is_empty() {
            for rule in &mut self.rules {
                if let Test::Meta(expr) = &mut rule.test {
                    expr.for_each_ref_mut(&mut |_, idx| {
                        if idx.is_some_and(|i| disabled.contains(&i)) {
                            *idx = None;
                        }
                    });
                }
            }
        }
        self.break_cycles();
        // Rules defined only in inactive blocks.
        let inactive = std::mem::take(&mut self.inactive);
        for (name, (origin, line, why)) in inactive {
            if !self.index.contains_key(&name)
                && !self.skipped.contains_key(&name)
                && !name.is_empty()
            {
                self.issue(
                    Severity::Error,
                    &origin,
                    line,
                    Some(&name),
                    format!("inside a block that is off ({why}); rule skipped"),
                );
            }
        }
        // Scores for rules nobody defined: typos in user files matter, SpamAssassin's own
        // 50_scores.cf lists network rules.
        let mut orphan: Vec<(String, usize, String)> = pending
            .scores
            .iter()
            .filter(|(n, _)| !self.index.contains_key(*n) && !self.skipped.contains_key(*n))
            .map(|(n, (_, o, l))| (o.clone(), *l, n.clone()))
            .collect();
        orphan.sort();
        for (o, l, n) in orphan {
            self.issue(
                Severity::Info,
                &o,
                l,
                Some(&n),
                format!("score for '{n}', which no loaded file defines"),
            );
        }
        for ((origin, kw), (line, count)) in std::mem::take(&mut self.ignored) {
            self.issue(
                Severity::Info,
                &origin,
                line,
                None,
                format!("setting '{kw}' ({count} line(s)) does not apply to mailsift; ignored"),
            );
        }
        self.issues
            .sort_by(|a, b| (&a.origin, a.line).cmp(&(&b.origin, b.line)));
        (self.rules, self.index, self.issues)
    }

    /// Disables meta rules that depend on themselves.
    fn break_cycles(&mut self) {
        let n = self.rules.len();
        // 0 = unvisited, 1 = on stack, 2 = done
        let mut state = vec![0u8; n];
        let mut cyclic = Vec::new();
        for start in 0..n {
            if state[start] != 0 {
                continue;
            }
            // Iterative DFS: (node, children, next child).
            let mut stack: Vec<(usize, Vec<usize>, usize)> = vec![(start, self.deps(start), 0)];
            state[start] = 1;
            while let Some((node, children, next)) = stack.last_mut() {
                if *next < children.len() {
                    let c = children[*next];
                    *next += 1;
                    match state[c] {
                        0 => {
                            state[c] = 1;
                            let d = self.deps(c);
                            stack.push((c, d, 0));
                        }
                        1 => cyclic.push(*node),
                        _ => {}
                    }
                } else {
                    state[*node] = 2;
                    stack.pop();
                }
            }
        }
        cyclic.sort_unstable();
        cyclic.dedup();
        for i in cyclic {
            self.rules[i].disabled = true;
            let (o, l, name) = (
                self.rules[i].origin.clone(),
                self.rules[i].line,
                self.rules[i].name.clone(),
            );
            self.issue(
                Severity::Error,
                &o,
                l,
                Some(&name),
                "meta rule depends on itself (a cycle); rule skipped".into(),
            );
            if let Test::Meta(e) = &mut self.rules[i].test {
                *e = Expr::Num(0.0);
            }
        }
    }

    fn deps(&self, i: usize) -> Vec<usize> {
        let mut v = Vec::new();
        if let Test::Meta(e) = &self.rules[i].test {
            e.for_each_index(&mut |j| v.push(j));
        }
        v
    }
}

fn is_rule_keyword(kw: &str) -> bool {
    matches!(kw, "header" | "body" | "rawbody" | "uri" | "full" | "meta")
        || UNSUPPORTED_RULE_TYPES.iter().any(|(k, _)| *k == kw)
}

fn parse_if_unset(tail: &str) -> Result<Option<String>, String> {
    let tail = tail.trim();
    if tail.is_empty() {
        return Ok(None);
    }
    let inner = tail
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .map(str::trim)
        .and_then(|t| t.strip_prefix("if-unset:"));
    match inner {
        Some(v) => Ok(Some(v.trim().to_owned())),
        None => Err(format!("unexpected text after the pattern: '{tail}'")),
    }
}

/// Removes a `#` comment; `\#` is a literal `#` (as in SpamAssassin).
fn strip_comment(line: &str) -> Cow<'_, str> {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut has_escape = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1) == Some(&b'#') => {
                has_escape = true;
                i += 2;
            }
            b'#' => {
                let kept = &line[..i];
                return if has_escape {
                    Cow::Owned(kept.replace("\\#", "#"))
                } else {
                    Cow::Borrowed(kept)
                };
            }
            _ => i += 1,
        }
    }
    if has_escape {
        Cow::Owned(line.replace("\\#", "#"))
    } else {
        Cow::Borrowed(line)
    }
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit()
}

/// Evaluates an `if` condition: `version`, `perl_version`, `can(X)`, `plugin(X)` with `!`,
/// `&&`, `||`, comparisons and parentheses.
fn eval_if(cond: &str) -> Result<bool, String> {
    let mut s = String::with_capacity(cond.len());
    let mut rest = cond;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("perl_version") {
            s.push_str("5.036");
            rest = r;
        } else if let Some(r) = rest.strip_prefix("version") {
            s.push_str(&format!("{EMULATED_VERSION:.6}"));
            rest = r;
        } else if let Some(r) = rest
            .strip_prefix("can(")
            .or_else(|| rest.strip_prefix("plugin("))
        {
            let is_can = rest.starts_with("can(");
            let end = r.find(')').ok_or("missing ')'")?;
            let arg = r[..end].trim();
            let short = arg.rsplit("::").next().unwrap_or(arg);
            let yes = if is_can {
                FEATURES.contains(&short)
            } else {
                EMULATED_PLUGINS.contains(&short)
            };
            s.push_str(if yes { "1" } else { "0" });
            rest = &r[end + 1..];
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            s.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    let e = meta::parse(&s)?;
    let mut bad = None;
    let mut e2 = e.clone();
    e2.for_each_ref_mut(&mut |n, _| bad = Some(n.to_owned()));
    if let Some(n) = bad {
        return Err(format!("unknown term '{n}'"));
    }
    Ok(e.eval(&|_| 0.0) != 0.0)
}

/// Levenshtein distance, for "did you mean" hints.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Parses `exists:`-free header targets: `Subject`, `From:addr`, `ALL`, `ToCc:raw`.
impl HeaderTarget {
    fn parse(field: &str) -> Result<HeaderTarget, String> {
        let mut parts = field.split(':');
        let name = parts.next().unwrap_or("").to_owned();
        if name.is_empty() {
            return Err("header rule needs a field name".into());
        }
        const PSEUDO_UNSUPPORTED: &[&str] = &[
            "ALL-TRUSTED",
            "ALL-UNTRUSTED",
            "ALL-INTERNAL",
            "ALL-EXTERNAL",
            "X-Spam-Relays-Trusted",
            "X-Spam-Relays-Untrusted",
            "X-Spam-Relays-Internal",
            "X-Spam-Relays-External",
            "X-Spam-Last-External",
            "X-Spam-Last-Trusted",
        ];
        if PSEUDO_UNSUPPORTED
            .iter()
            .any(|p| p.eq_ignore_ascii_case(&name))
        {
            return Err(format!(
                "pseudo-header '{name}' needs SpamAssassin's trust-path analysis, which mailsift \
                 does not do"
            ));
        }
        let mut t = HeaderTarget {
            key: field.to_owned(),
            name,
            raw: false,
            addr: false,
            display_name: false,
            host: false,
            domain: false,
            first: false,
            last: false,
        };
        for m in parts {
            match m {
                "raw" => t.raw = true,
                "addr" => t.addr = true,
                "name" => t.display_name = true,
                "host" => t.host = true,
                "domain" => t.domain = true,
                "first" => t.first = true,
                "last" => t.last = true,
                other => return Err(format!("header modifier ':{other}' is not supported")),
            }
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_words() {
        assert_eq!(strip_comment("body X /a\\#b/ # c"), "body X /a#b/ ");
        assert_eq!(split_word("  score   X 1"), ("score", "   X 1"));
    }

    #[test]
    fn if_conditions() {
        assert_eq!(eval_if("(version >= 3.004000)"), Ok(true));
        assert_eq!(eval_if("(version >= 4.001000)"), Ok(false));
        assert_eq!(
            eval_if("can(Mail::SpamAssassin::Conf::feature_bug6558_free)"),
            Ok(true)
        );
        assert_eq!(
            eval_if("!plugin(Mail::SpamAssassin::Plugin::MIMEHeader)"),
            Ok(true)
        );
        assert_eq!(
            eval_if("plugin(Mail::SpamAssassin::Plugin::DKIM)"),
            Ok(false)
        );
        assert!(eval_if("frobnicate").is_err());
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("body", "bdoy"), 2);
        assert_eq!(edit_distance("score", "score"), 0);
    }
}
