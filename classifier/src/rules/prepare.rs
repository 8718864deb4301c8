//! Preparing a rule set for evaluation: which rules are needed, the literal prefilters per text
//! kind, rules split into alternatives, and the order of the metas.

use std::collections::HashMap;

use super::table::parse_prefilter_table;
use super::*;

/// Literal prefilter for one text kind.
#[derive(Debug, Clone, Default)]
pub(super) struct Group {
    /// Rules with a prefilter, with the alternative (flat id into [`Prepared`]'s branch
    /// candidates) when the rule is split (see [`Pattern::alternatives`]).
    pub(super) filtered: Vec<(usize, Option<usize>)>,
    /// Rules that always run.
    pub(super) always: Vec<usize>,
    pub(super) ac: Option<LitIndex>,
    /// literal id → index into `filtered`.
    pub(super) owner: Vec<usize>,
    /// literal id → which of its rule's clauses it is in.
    pub(super) clause: Vec<u8>,
    /// Per entry of `filtered`: how many clauses (each needs a literal found); all 1 when
    /// `single`.
    pub(super) clauses: Vec<u8>,
    /// Whether every entry has one clause (any literal found makes it a candidate).
    pub(super) single: bool,
    /// One scan for which of the `always` rules can match (a long-lived set's, built by
    /// [`RuleSet::compile_all`] or for the first message evaluated).
    pub(super) set: OnceLock<Option<super::setfilter::SetFilter>>,
}

/// One text kind's prefilter while it is built (see [`Group`]).
#[derive(Default)]
struct Building {
    filtered: Vec<(usize, Option<usize>)>,
    always: Vec<usize>,
    lits: Vec<Vec<u8>>,
    owner: Vec<usize>,
    clause: Vec<u8>,
    clauses: Vec<u8>,
}

impl Building {
    /// A rule (or one alternative of a split rule) filtered by `clauses`.
    fn add(&mut self, entry: (usize, Option<usize>), clauses: &Clauses) {
        let slot = self.filtered.len();
        self.filtered.push(entry);
        let n = clauses.len().min(super::literals::MAX_CLAUSES);
        self.clauses.push(n as u8);
        for (k, c) in clauses.iter().take(n).enumerate() {
            for l in c {
                self.lits.push(l.clone());
                self.owner.push(slot);
                self.clause.push(k as u8);
            }
        }
    }
}

impl RuleSet {
    /// Prepares the rule set and compiles every regex that scoring may run, for a process
    /// that will evaluate many messages (a server calls it in a background thread at start-up,
    /// so that no message pays the compiles: about a second for SpamAssassin's stock rules).
    /// Changes no result: the same engines are built as the first use would build them.
    pub fn compile_all(&self) {
        let prep = self.prepared();
        for (i, r) in self.inner.rules.iter().enumerate() {
            if !prep.needed[i] || r.disabled || r.reads_tags() {
                continue;
            }
            match &r.test {
                Test::Header { pattern, .. } => pattern.warm(prep.long_lived, false),
                // uri_count matches each URL with the one-message engine.
                Test::Regex(p) if r.kind == RuleKind::Uri => p.warm(false, false),
                Test::Regex(p) => p.warm(prep.long_lived, r.max_hits > 1),
                Test::MimeHeader(m) => m.pattern.warm(prep.long_lived, false),
                _ => {}
            }
            if let Some(sp) = prep.splits.get(&i) {
                for p in &sp.patterns {
                    p.warm(prep.long_lived, false);
                }
            }
        }
        for group in [&prep.body, &prep.rawbody, &prep.full] {
            let _ = self.set_filter(prep, group);
        }
    }

    pub(super) fn prepare(&self, long_lived: bool) -> Prepared {
        let n = self.inner.rules.len();
        let mut needed = vec![false; n];
        let mut stack: Vec<usize> = (0..n).filter(|&i| self.inner.rules[i].reported()).collect();
        while let Some(i) = stack.pop() {
            if needed[i] {
                continue;
            }
            needed[i] = true;
            if let Test::Meta(e) = &self.inner.rules[i].test {
                e.for_each_index(&mut |j| {
                    if !needed[j] {
                        stack.push(j);
                    }
                });
            }
        }
        // A rule that reads captured tags needs every rule that captures tags (captures.rs).
        let capturing: Vec<usize> = (0..n)
            .filter(|&i| super::captures::sets_tags(&self.inner.rules[i]))
            .collect();
        if (0..n).any(|i| needed[i] && self.inner.rules[i].reads_tags()) {
            for &i in &capturing {
                needed[i] = true;
            }
        }
        let mut table = self
            .inner
            .precomputed
            .map(parse_prefilter_table)
            .unwrap_or_default();
        // A prefilter cache read back (see cache.rs) adds to the default table; entries of
        // either are used only when their fingerprint matches.
        if let Some(cached) = self.inner.cached_prefilter.as_deref() {
            table.extend(parse_prefilter_table(cached));
        }
        // Every literal set used, and how many were computed rather than found in a table:
        // what a prefilter cache saves.
        let mut rows: Vec<TableRow> = Vec::new();
        let mut computed = 0usize;
        // Each entry is used once: taken out of the table, not cloned.
        let mut literals_of = |name: &str, p: &Pattern| -> Option<Clauses> {
            let fp = p.fingerprint();
            let lits = match table.remove(name) {
                Some((f, lits)) if f == fp => lits,
                _ => {
                    computed += 1;
                    p.required_clauses()
                }
            };
            rows.push((name.to_owned(), fp, lits.clone()));
            lits
        };
        let mut splits: HashMap<usize, Split> = HashMap::new();
        let mut branches = 0;
        let mut always_branches = Vec::new();
        let direct: Vec<usize> = (0..n)
            .filter(|&i| {
                let r = &self.inner.rules[i];
                !matches!(r.test, Test::Meta(_)) && !r.disabled && !r.reads_tags()
            })
            .collect();
        let metas = super::meta::Program::new(self.meta_order().into_iter().filter_map(|i| {
            match &self.inner.rules[i].test {
                Test::Meta(e) if !self.inner.rules[i].disabled => Some((i, e)),
                _ => None,
            }
        }));
        let mut groups: HashMap<RuleKind, Building> = HashMap::new();
        let mut header_lits = HashMap::new();
        // Per header target key: (literals, their slots).
        let mut header_groups: HashMap<String, (Vec<Vec<u8>>, Vec<usize>)> = HashMap::new();
        let mut header_slot = vec![usize::MAX; n];
        let mut header_slots = 0;
        for (i, r) in self.inner.rules.iter().enumerate() {
            if r.disabled || r.reads_tags() {
                continue;
            }
            // Split only when some alternative has literals (otherwise every alternative always
            // runs, and one compile is cheaper than several).
            let split = splittable(r)
                .and_then(Pattern::alternatives)
                .and_then(|alts| {
                    let lits: Vec<_> = alts
                        .iter()
                        .enumerate()
                        .map(|(k, a)| literals_of(&format!("{}|{k}", r.name), a))
                        .collect();
                    if lits.iter().all(Option::is_none) {
                        return None;
                    }
                    Some(Split {
                        base: 0,
                        patterns: alts,
                        lits,
                    })
                });
            if let Some(mut sp) = split {
                sp.base = branches;
                branches += sp.patterns.len();
                if let Test::Regex(_) = r.test {
                    let g = groups.entry(r.kind).or_default();
                    for (k, lits) in sp.lits.iter().enumerate() {
                        let Some(lits) = lits else {
                            always_branches.push(sp.base + k);
                            g.always.push(i);
                            continue;
                        };
                        g.add((i, Some(sp.base + k)), lits);
                    }
                }
                if let Test::Header { target, .. } = &r.test {
                    header_slot[i] = header_slots;
                    let g = header_groups.entry(target.key.clone()).or_default();
                    // Header rules take one clause: their texts are short, their scan cheap.
                    for (k, lits) in sp.lits.iter().enumerate() {
                        for l in lits.iter().filter_map(|c| c.first()).flatten() {
                            g.0.push(l.clone());
                            g.1.push(header_slots + k);
                        }
                    }
                    header_slots += sp.lits.len();
                }
                splits.insert(i, sp);
                continue;
            }
            let lits = match &r.test {
                Test::Regex(p) => literals_of(&r.name, p),
                Test::Header { pattern, .. } => literals_of(&r.name, pattern),
                _ => None,
            };
            match &r.test {
                Test::Regex(_) => {
                    let g = groups.entry(r.kind).or_default();
                    match lits {
                        Some(lits) => g.add((i, None), &lits),
                        None => g.always.push(i),
                    }
                }
                Test::Header { target, .. } => {
                    if let Some(l) = lits.and_then(|c| c.into_iter().next()) {
                        header_slot[i] = header_slots;
                        let g = header_groups.entry(target.key.clone()).or_default();
                        g.0.extend(l.iter().cloned());
                        g.1.extend(l.iter().map(|_| header_slots));
                        header_slots += 1;
                        header_lits.insert(i, l);
                    }
                }
                _ => {}
            }
        }
        let mut take = |k: RuleKind| -> Group {
            let Some(b) = groups.remove(&k) else {
                return Group::default();
            };
            let ac = (!b.lits.is_empty()).then(|| LitIndex::new(&b.lits, long_lived));
            Group {
                single: b.clauses.iter().all(|&n| n == 1),
                filtered: b.filtered,
                always: b.always,
                ac,
                owner: b.owner,
                clause: b.clause,
                clauses: b.clauses,
                set: OnceLock::new(),
            }
        };
        let body = take(RuleKind::Body);
        let header_index = header_groups
            .into_iter()
            .map(|(key, (lits, owner))| {
                let index = LitIndex::new(&lits, long_lived);
                (key, HeaderIndex { index, owner })
            })
            .collect();
        // The direct rules split: the text rules with their texts, and the others.
        let mut text_parts: Vec<(usize, super::texts::Part)> = Vec::new();
        let mut others: Vec<usize> = Vec::new();
        for &i in &direct {
            match super::run::text_part(&self.inner.rules[i]) {
                Some(part) => text_parts.push((i, part)),
                None => others.push(i),
            }
        }
        // One number per header target the direct rules read (by `HeaderTarget::key`).
        let mut target_ids: HashMap<&str, usize> = HashMap::new();
        let mut header_target = vec![usize::MAX; n];
        for &i in &others {
            if let Test::Header { target: t, .. } | Test::Exists(t) = &self.inner.rules[i].test {
                let next = target_ids.len();
                header_target[i] = *target_ids.entry(t.key.as_str()).or_insert(next);
            }
        }
        let header_targets = target_ids.len();
        let text_rules = text_parts.iter().filter(|&&(i, _)| needed[i]).count();
        let templates = (0..n)
            .filter(|&i| !self.inner.rules[i].disabled && self.inner.rules[i].reads_tags())
            .collect();
        Prepared {
            rows,
            computed,
            long_lived,
            needed,
            text_parts,
            metas,
            body,
            rawbody: take(RuleKind::RawBody),
            full: take(RuleKind::Full),
            uri: take(RuleKind::Uri),
            header_lits,
            header_index,
            header_slot,
            header_slots,
            header_target,
            header_targets,
            others,
            text_rules,
            splits,
            branches,
            always_branches,
            line_modes: (0..n).map(|_| OnceLock::new()).collect(),
            capturing,
            templates,
            template_cache: Default::default(),
        }
    }

    /// Meta rules ordered so that each comes after the metas it uses (cycles were disabled at
    /// load).
    fn meta_order(&self) -> Vec<usize> {
        let n = self.inner.rules.len();
        let mut done = vec![false; n];
        let mut order = Vec::new();
        for start in 0..n {
            if done[start] || !matches!(self.inner.rules[start].test, Test::Meta(_)) {
                continue;
            }
            let mut stack = vec![(start, false)];
            while let Some((i, expanded)) = stack.pop() {
                if done[i] {
                    continue;
                }
                if expanded {
                    done[i] = true;
                    if matches!(self.inner.rules[i].test, Test::Meta(_)) {
                        order.push(i);
                    }
                    continue;
                }
                stack.push((i, true));
                if let Test::Meta(e) = &self.inner.rules[i].test {
                    e.for_each_index(&mut |j| {
                        if !done[j] {
                            stack.push((j, false));
                        }
                    });
                }
            }
        }
        order
    }
}
