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
use super::meta;
use super::pattern::Pattern;
use super::perlre;
use super::{HeaderTarget, LintIssue, Rule, RuleKind, Severity, Test};

mod finish;
mod replace;
mod syntax;
mod tables;
pub(crate) use syntax::edit_distance;
#[cfg(test)]
use syntax::eval_if;
use syntax::{
    eval_if_with, is_rule_keyword, parse_if_unset, split_word, strip_comment, valid_name,
};
use tables::{
    EMULATED_VERSION, FEATURES, IGNORED_SETTINGS, KNOWN_TFLAGS, MAX_INCLUDE_DEPTH, MAX_INCLUDES,
    NEEDS_NETWORK, RULE_KEYWORDS, SPAMASSASSIN_PLUGINS, UNSUPPORTED_RULE_TYPES, read_as_loaded,
};

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
    /// Per rule: its scores in SpamAssassin's four score sets (one value is all four).
    scores: HashMap<String, ([f64; 4], String, usize)>,
    describes: HashMap<String, String>,
    tflags: HashMap<String, (String, String, usize)>,
    replace: replace::Tags,
    replace_rules: HashSet<String>,
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
    /// Of those, the ones SpamAssassin itself defines (its plugin is loaded there).
    sa_defined: HashSet<String>,
    /// Plugins loaded by `loadplugin` lines, besides [`SPAMASSASSIN_PLUGINS`].
    sa_plugins: HashSet<String>,
    /// `compat_NAME` for each `enable_compat NAME` line (init.pre's `welcomelist_blocklist`):
    /// SpamAssassin's `can(Mail::SpamAssassin::Conf::compat_NAME)` is then true.
    compat: HashSet<String>,
    /// Ignored settings seen: (origin, keyword) → (first line, count).
    ignored: BTreeMap<(String, String), (usize, usize)>,
    pending: Pending,
    /// Plugin settings (address lists, free-mail domains, bounce relays).
    pub(crate) conf: super::plugconf::PluginConf,
    reader: Reader<'r>,
    /// The files being read, outermost first (an `include` of one of them is a loop).
    include_stack: Vec<PathBuf>,
    includes: usize,
    /// An include loop (or too many includes): loading fails with this.
    pub fatal: Option<String>,
    /// `trusted_networks`, `internal_networks`, `msa_networks` and their `clear_*` lines.
    pub networks: super::trust::Networks,
}

struct Cond {
    /// Whether lines here are active (this and all enclosing conditions hold).
    active: bool,
    /// Whether SpamAssassin, with its own plugins, reads the lines here.
    sa_active: bool,
    /// Whether SpamAssassin reads the enclosing block, and this condition's value there.
    sa_parent: bool,
    sa_value: bool,
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
            sa_defined: HashSet::new(),
            sa_plugins: HashSet::new(),
            compat: HashSet::new(),
            ignored: BTreeMap::new(),
            pending: Pending::default(),
            conf: super::plugconf::PluginConf::default(),
            reader,
            include_stack: Vec::new(),
            includes: 0,
            fatal: None,
            networks: Default::default(),
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
            let sa_active = conds.last().is_none_or(|c| c.sa_active);
            match kw_lower.as_str() {
                "ifplugin" | "if" => {
                    let sa_has =
                        |p: &str| SPAMASSASSIN_PLUGINS.contains(&p) || self.sa_plugins.contains(p);
                    let sa_value = if kw_lower == "ifplugin" {
                        let name = rest.split_whitespace().next().unwrap_or("");
                        sa_has(name.rsplit("::").next().unwrap_or(name))
                    } else {
                        eval_if_with(rest, &sa_has, &|_| true).unwrap_or(false)
                    };
                    let (value, why) = if kw_lower == "ifplugin" {
                        let name = rest.split_whitespace().next().unwrap_or("");
                        let short = name.rsplit("::").next().unwrap_or(name);
                        // A plugin SpamAssassin does not load (FromNameSpoof in Debian's
                        // .pre files, unless a `loadplugin` line adds it) is off there, so
                        // here too.
                        match (read_as_loaded(short), sa_value) {
                            (true, true) => (true, String::new()),
                            (_, false) => (
                                false,
                                format!("plugin {short} is not loaded by SpamAssassin either"),
                            ),
                            (false, true) => (false, format!("plugin {short} is not emulated")),
                        }
                    } else {
                        let can = |f: &str| FEATURES.contains(&f) || self.compat.contains(f);
                        match eval_if_with(rest, &read_as_loaded, &can) {
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
                        sa_active: sa_active && sa_value,
                        sa_parent: sa_active,
                        sa_value,
                        parent_active: active,
                        value,
                        why,
                    });
                }
                "else" => match conds.last_mut() {
                    Some(c) => {
                        c.value = !c.value;
                        c.active = c.parent_active && c.value;
                        c.sa_value = !c.sa_value;
                        c.sa_active = c.sa_parent && c.sa_value;
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
                        if sa_active {
                            self.sa_defined.insert(name.to_owned());
                        }
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
            "header" | "body" | "rawbody" | "uri" | "full" | "meta" | "mimeheader" => {
                if origin != "<default>" {
                    self.conf.rule_file_uris |= kw == "uri";
                    self.conf.rule_file_body |= kw == "body";
                    self.conf.rule_file_rawbody |= kw == "rawbody";
                    if let Some(mode) = freemail_reply_mode(rest) {
                        self.conf.freemail_reply_modes.insert(mode);
                    }
                }
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
                        // Four scores are SpamAssassin's score sets: set 0 without Bayes or
                        // network tests, 1 with network tests, 2 with Bayes, 3 with both.
                        let s = if v.len() == 4 {
                            [v[0], v[1], v[2], v[3]]
                        } else {
                            [v[0]; 4]
                        };
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
            "enable_compat" => {
                let names = rest.split_whitespace().map(|n| format!("compat_{n}"));
                self.compat.extend(names.take(100));
            }
            "loadplugin" | "tryplugin" => {
                let name = rest.split_whitespace().next().unwrap_or("");
                let short = name.rsplit("::").next().unwrap_or(name);
                self.sa_plugins.insert(short.to_owned());
            }
            "replace_tag" | "replace_pre" | "replace_inter" | "replace_post" => {
                let (name, value) = split_word(rest);
                let map = match kw {
                    "replace_tag" => &mut self.pending.replace.tags,
                    "replace_pre" => &mut self.pending.replace.pre,
                    "replace_inter" => &mut self.pending.replace.inter,
                    _ => &mut self.pending.replace.post,
                };
                map.insert(name.to_owned(), value.trim().to_owned());
            }
            "replace_rules" => {
                for name in rest.split_whitespace() {
                    self.pending.replace_rules.insert(name.to_owned());
                }
            }
            "trusted_networks"
            | "internal_networks"
            | "msa_networks"
            | "clear_trusted_networks"
            | "clear_internal_networks"
            | "clear_msa_networks"
            | "originating_ip_headers"
            | "clear_originating_ip_headers" => {
                if let Err(e) = self.networks.apply(kw, rest) {
                    self.issue(
                        Severity::Error,
                        origin,
                        line,
                        None,
                        format!("{kw}: {e}; the rest of the line is ignored"),
                    );
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
                // A plugin setting (super::plugconf): applied, or reported when malformed.
                match self.conf.setting(kw, rest) {
                    Some(Ok(())) => return,
                    Some(Err(e)) => {
                        let msg = format!("{e}; line ignored");
                        return self.issue(Severity::Error, origin, line, None, msg);
                    }
                    None => {}
                }
                if let Some((_, why, network)) =
                    UNSUPPORTED_RULE_TYPES.iter().find(|(k, ..)| *k == kw)
                {
                    let name = rest.split_whitespace().next().unwrap_or("");
                    let network = if *network {
                        format!(", it {NEEDS_NETWORK}")
                    } else {
                        String::new()
                    };
                    self.skip(
                        origin,
                        line,
                        name,
                        format!("'{kw}' rules are not supported: {why}{network}"),
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
            "header" | "mimeheader" => RuleKind::Header,
            "body" => RuleKind::Body,
            "rawbody" => RuleKind::RawBody,
            "uri" => RuleKind::Uri,
            "full" => RuleKind::Full,
            _ => RuleKind::Meta,
        };
        let parsed = match kw {
            "mimeheader" => super::mimeheader::parse(self, name, def),
            _ => self.rule_test(kind, name, def),
        };
        let parsed = parsed.and_then(|t| match &t {
            Test::MimeHeader(m) if m.pattern.template.is_some() => {
                Err("a mimeheader rule with %{TAG} templates is not supported".to_owned())
            }
            _ => Ok(t),
        });
        let mut test = match parsed {
            Ok(t) => t,
            Err(msg) => {
                self.skip(origin, line, name, msg);
                return;
            }
        };
        if origin == "<default>" {
            if let Test::Header { target, .. } | Test::Exists(target) = &mut test {
                target.builtin_reading();
            }
        } else {
            sa_reading(kind, &mut test);
        }
        self.skipped.remove(name);
        // SpamAssassin's BAYES_* rules read SpamAssassin's own Bayes; mailsift's Bayes adds its
        // own points (and names its band BAYES_xx in tests=), so running them too would count
        // the same evidence twice. They stay defined (metas over them are kept, as in
        // SpamAssassin with Bayes off) but never hit.
        let own_bayes = matches!(&test, Test::Eval { def, .. } if def.name == "check_bayes");
        if own_bayes {
            self.issue(
                Severity::Info,
                origin,
                line,
                Some(name),
                "eval:check_bayes never hits: mailsift's own Bayes score stands for it (no \
                 double count)"
                    .into(),
            );
        }
        let rule = Rule {
            name: name.to_owned(),
            kind,
            test,
            score: 0.0,
            set_scores: None,
            description: String::new(),
            origin: origin.to_owned(),
            line,
            source: format!("{kw} {name} {def}"),
            max_hits: 1,
            no_subject: false,
            unedited_body: false,
            disabled: own_bayes,
        };
        match self.index.get(name) {
            Some(&i) => self.rules[i] = rule,
            None => {
                self.index.insert(name.to_owned(), self.rules.len());
                self.rules.push(rule);
            }
        }
    }

    pub(crate) fn pattern(
        &self,
        name: &str,
        text: &str,
        line_anchors: bool,
    ) -> Result<(Pattern, String), String> {
        let (body, flags, rest) = perlre::split_delimited(text)?;
        let body = match self.pending.replace_rules.contains(name) {
            true => self
                .pending
                .replace
                .apply(body)
                .map_or(Cow::Borrowed(body), Cow::Owned),
            false => Cow::Borrowed(body),
        };
        // SpamAssassin 4's `%{TAG}` templates: the regex is made per message (captures.rs);
        // the one compiled here reads them literally, as SpamAssassin's does at load.
        let templates = super::captures::find_templates(&body)?;
        let source = templates.as_ref().map_or(&*body, |(escaped, _)| escaped);
        let t = perlre::translate(source, flags)?;
        let mut pattern = Pattern::new(t, line_anchors);
        if let Some((_, names)) = templates {
            pattern.template = Some(Box::new(super::captures::Template::new(
                body.into_owned(),
                flags,
                names,
            )));
        }
        Ok((pattern, rest.trim().to_owned()))
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
            let Some(e) = evals::find_for(&fname, kind) else {
                if let Some(plugin) = tables::network_eval(&fname) {
                    return Err(format!(
                        "eval:{fname} is a test of the {plugin} plugin: it {NEEDS_NETWORK}, so it \
                         does not run without network tests (as in SpamAssassin with \
                         dns_available no)"
                    ));
                }
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
                return HeaderTarget::parse(h).map(|mut t| {
                    t.every = true;
                    Test::Exists(t)
                });
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
            let mut target = HeaderTarget::parse(field)?;
            target.every = true;
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
}

/// A loaded rule file's rule read as SpamAssassin reads it. A header value ends with its
/// newline (its `get`), and Perl's `$` matches before it: XM_RANDOM's `q(?!...)[^u]` takes that
/// newline. A `full` rule reads the whole message and a `rawbody` rule each piece of a part's
/// text (`split_into_array_of_short_paragraphs`) as one string: without `/m`, `^` is the
/// string's start and `$` its end or before its final newline (rawbody `/^> /` hit no piece
/// but the ones that start with a quote: `__HS_QUOTE`; full `/bar$/` the message's last line).
pub(super) fn sa_reading(kind: RuleKind, test: &mut Test) {
    let pattern = match test {
        Test::Header {
            target, pattern, ..
        } => {
            target.sa_reading();
            pattern
        }
        Test::Regex(pattern) if matches!(kind, RuleKind::Full | RuleKind::RawBody) => {
            // Nothing is compiled yet: the fields are changed in place (a template stays).
            pattern.line_anchors = false;
            pattern
        }
        _ => return,
    };
    if !pattern.translated.flags.m
        && let Some(p) = syntax::perl_end_dollar(&pattern.translated.pattern)
    {
        pattern.translated.pattern = p;
    }
}

/// The reading of a `check_freemail_replyto` rule (`NAME eval:check_freemail_replyto('reply')`):
/// its argument, 'replyto' without one.
fn freemail_reply_mode(rest: &str) -> Option<String> {
    let call = rest.split_once("eval:check_freemail_replyto(")?.1;
    let arg = call
        .split_once(')')?
        .0
        .trim()
        .trim_matches(|c| c == '\'' || c == '"');
    Some(if arg.is_empty() { "replyto" } else { arg }.to_ascii_lowercase())
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
            eval_if("!plugin(Mail::SpamAssassin::Plugin::DCC)"),
            Ok(true)
        );
        // Network plugins are read as loaded, as SpamAssassin loads them.
        assert_eq!(
            eval_if("plugin(Mail::SpamAssassin::Plugin::DKIM)"),
            Ok(true)
        );
        assert_eq!(
            eval_if("plugin(Mail::SpamAssassin::Plugin::Razor2)"),
            Ok(true)
        );
        assert_eq!(
            eval_if("plugin(Mail::SpamAssassin::Plugin::DCC)"),
            Ok(false)
        );
        assert!(eval_if("frobnicate").is_err());
    }

    #[test]
    fn freemail_reply_modes() {
        let m = |r: &str| freemail_reply_mode(r);
        assert_eq!(
            m("__F eval:check_freemail_replyto('reply')").as_deref(),
            Some("reply")
        );
        assert_eq!(
            m("__F eval:check_freemail_replyto()").as_deref(),
            Some("replyto")
        );
        assert_eq!(m("__F eval:check_freemail_from()"), None);
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("body", "bdoy"), 2);
        assert_eq!(edit_distance("score", "score"), 0);
    }
}
