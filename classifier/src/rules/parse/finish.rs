//! The end of parsing: scores, descriptions and tflags applied, meta references resolved,
//! cycles broken, leftovers reported.

use std::collections::{HashMap, HashSet};

use super::super::meta::Expr;
use super::super::{LintIssue, Rule, RuleKind, Severity, Test};
use super::{Builder, KNOWN_TFLAGS, NEEDS_NETWORK};

impl Builder<'_> {
    /// Applies scores, descriptions and tflags; resolves metas; reports leftovers.
    pub(crate) fn finish(
        mut self,
        score_set: usize,
    ) -> (Vec<Rule>, HashMap<String, usize>, Vec<LintIssue>) {
        self.apply_replace_rules();
        let pending = std::mem::take(&mut self.pending);
        for rule in &mut self.rules {
            let nice = pending
                .tflags
                .get(&rule.name)
                .is_some_and(|(f, _, _)| f.split_whitespace().any(|f| f == "nice"));
            let sets = match pending.scores.get(&rule.name) {
                Some((s, _, _)) => *s,
                // SpamAssassin's defaults: sub-rules score nothing, testing rules 0.01, other
                // rules 1, or -1 for `tflags nice` (ham signs).
                None if rule.name.starts_with("__") => [0.0; 4],
                None if rule.name.starts_with("T_") => [0.01; 4],
                None if nice => [-1.0; 4],
                None => [1.0; 4],
            };
            rule.score = sets[score_set.min(3)];
            rule.set_scores = Some(sets);
            if let Some(d) = pending.describes.get(&rule.name) {
                rule.description.clone_from(d);
            }
        }
        let mut tflag_issues = Vec::new();
        let mut net_evals = Vec::new();
        for (name, (flags, origin, line)) in &pending.tflags {
            let Some(&i) = self.index.get(name) else {
                continue;
            };
            for f in flags.split_whitespace() {
                if f == "nosubject" {
                    self.rules[i].no_subject = true;
                } else if f == "net"
                    && matches!(self.rules[i].test, Test::Eval { .. })
                    && !self.rules[i].disabled
                {
                    // Check.pm skips an eval rule tagged `net` in a score set without network
                    // tests (0 and 2), the only sets mailsift uses: it never runs.
                    self.rules[i].disabled = true;
                    net_evals.push((origin.clone(), *line, name.clone()));
                } else if f == "multiple" {
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
        self.mark_compiled_body_rules(&pending.replace_rules);
        for (o, l, n) in net_evals {
            self.issue(
                Severity::Info,
                &o,
                l,
                Some(&n),
                "an eval rule tagged 'net' never runs without network tests, as in SpamAssassin \
                 (score sets 0 and 2)"
                    .into(),
            );
        }
        for (o, l, n, m) in tflag_issues {
            self.issue(Severity::Warning, &o, l, Some(&n), m);
        }
        // Resolve meta references. A reference to a rule nobody defines is false, as in
        // SpamAssassin 4 (Plugin::Check sets undefined dependencies to 0 and still runs the
        // meta): faithful, so only noted. A rule SpamAssassin defines but mailsift skipped or
        // cannot load is false here and may hit there: a warning.
        let index = &self.index;
        let skipped = &self.skipped;
        let inactive = &self.inactive;
        let sa_defined = &self.sa_defined;
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
            let (mut differ, mut same) = (Vec::new(), Vec::new());
            for m in &missing {
                if skipped
                    .get(m)
                    .is_some_and(|why| why.contains(NEEDS_NETWORK))
                {
                    same.push(format!("{m} (needs the network)"));
                } else if skipped.contains_key(m) {
                    differ.push(format!("{m} (unsupported)"));
                } else if let Some((_, _, why)) = inactive.get(m) {
                    if super::tables::network_feature(why).is_some() {
                        same.push(format!("{m} (needs the network)"));
                    } else if sa_defined.contains(m) {
                        differ.push(format!("{m} ({why})"));
                    } else {
                        same.push(format!("{m} ({why}; off in SpamAssassin too)"));
                    }
                } else {
                    same.push(format!("{m} (undefined)"));
                }
            }
            if !differ.is_empty() {
                meta_issues.push((
                    Severity::Warning,
                    rule.origin.clone(),
                    rule.line,
                    rule.name.clone(),
                    format!(
                        "meta uses rules SpamAssassin has and mailsift does not, taken as not \
                         hitting: {}",
                        differ.join(", ")
                    ),
                ));
            }
            if !same.is_empty() {
                meta_issues.push((
                    Severity::Info,
                    rule.origin.clone(),
                    rule.line,
                    rule.name.clone(),
                    format!(
                        "meta uses rules SpamAssassin does not run either, taken as not hitting \
                         (as SpamAssassin does): {}",
                        same.join(", ")
                    ),
                ));
            }
        }
        for (sev, o, l, n, m) in meta_issues {
            self.issue(sev, &o, l, Some(&n), m);
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
                // A rule SpamAssassin does not define either (its plugin is not loaded there,
                // or its `if` is false there too) is not one mailsift lacks.
                let network = super::tables::network_feature(&why)
                    .map(|p| format!(", a rule of the {p} plugin: it {NEEDS_NETWORK}"));
                let (sev, also) = match self.sa_defined.contains(&name) {
                    true => (Severity::Error, network.as_deref().unwrap_or("")),
                    false => (Severity::Info, ", as in SpamAssassin"),
                };
                self.issue(
                    sev,
                    &origin,
                    line,
                    Some(&name),
                    format!("inside a block that is off ({why}){also}; rule skipped"),
                );
            }
        }
        self.report_templates();
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

    /// Says which rules read captured tags (`captures.rs`), and warns of a tag no rule sets:
    /// SpamAssassin never runs such a rule, and neither does mailsift.
    fn report_templates(&mut self) {
        let mut set: HashSet<String> = HashSet::new();
        for r in self.rules.iter().filter(|r| !r.disabled) {
            if let Test::Header { pattern, .. } | Test::Regex(pattern) = &r.test {
                set.extend(
                    super::super::captures::tags_set(pattern)
                        .into_iter()
                        .map(String::from),
                );
            }
        }
        let mut notes: Vec<(Severity, String, usize, String, String)> = Vec::new();
        for r in self.rules.iter().filter(|r| !r.disabled) {
            let (Test::Header { pattern, .. } | Test::Regex(pattern)) = &r.test else {
                continue;
            };
            let Some(t) = &pattern.template else { continue };
            let missing: Vec<&str> = t
                .names
                .iter()
                .filter(|n| !set.contains(*n))
                .map(String::as_str)
                .collect();
            let (severity, message) = match missing.is_empty() {
                true => (
                    Severity::Info,
                    format!(
                        "reads captured tag(s) {}: its regex is made for each message",
                        t.names.join(", ")
                    ),
                ),
                false => (
                    Severity::Warning,
                    format!(
                        "reads tag(s) {} that no loaded rule captures: never runs, as in \
                         SpamAssassin",
                        missing.join(", ")
                    ),
                ),
            };
            notes.push((severity, r.origin.clone(), r.line, r.name.clone(), message));
        }
        for (s, o, l, n, m) in notes {
            self.issue(s, &o, l, Some(&n), m);
        }
    }

    /// Re-parses the rules `replace_rules` names, now that every tag is known (SpamAssassin
    /// replaces tags once the whole configuration is read, so `replace_rules` may follow the
    /// rule and `replace_tag` may follow both).
    /// [`Rule::unedited_body`]: where a `loadplugin` line loads Rule2XSBody, the body rules
    /// sa-compile compiled, less those Rule2XSBody itself skips (`replace_rules` ones, and
    /// those that set or read captured tags).
    fn mark_compiled_body_rules(&mut self, replace_rules: &HashSet<String>) {
        if !self.sa_plugins.contains("Rule2XSBody") {
            return;
        }
        let compiled =
            super::super::installed::compiled_body_rules(&super::super::installed::compiled_dir());
        if compiled.is_empty() {
            return;
        }
        for rule in &mut self.rules {
            rule.unedited_body = rule.kind == RuleKind::Body
                && rule.origin != "<default>"
                && matches!(rule.test, Test::Regex(_))
                && compiled.contains(&rule.name)
                && !replace_rules.contains(&rule.name)
                && !rule.reads_tags()
                && !super::super::captures::sets_tags(rule);
        }
    }

    fn apply_replace_rules(&mut self) {
        let mut names: Vec<String> = self.pending.replace_rules.iter().cloned().collect();
        names.sort();
        for name in names {
            let Some(&i) = self.index.get(&name) else {
                continue;
            };
            let r = &self.rules[i];
            if r.disabled {
                continue;
            }
            let def = r.source.splitn(3, ' ').nth(2).unwrap_or("").to_owned();
            let parsed = match r.source.starts_with("mimeheader ") {
                true => super::super::mimeheader::parse(self, &name, &def),
                false => self.rule_test(r.kind, &name, &def),
            };
            match parsed {
                Ok(mut t) => {
                    if r.origin != "<default>" {
                        super::sa_reading(r.kind, &mut t);
                    }
                    self.rules[i].test = t;
                }
                Err(msg) => {
                    let (o, l) = (r.origin.clone(), r.line);
                    self.skip(&o, l, &name, msg);
                }
            }
        }
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
