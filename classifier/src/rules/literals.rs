//! The literal prefilter's analysis: from a pattern's HIR, sets of lower-cased literals such
//! that every match contains at least one literal of each set (the sets are clauses of a
//! conjunction: `free` ... `money` needs both words, so a text with only one rules it out).

use regex_syntax::hir::{Class, Hir, HirKind};

use super::perlre::Flags;

/// Literals shorter than this make a useless prefilter (they are everywhere).
const MIN_PREFILTER_LEN: usize = 3;
/// Bound on literal sets built while analysing a pattern.
const MAX_SET: usize = 256;
/// Literals are cut to this many bytes: any prefix of a required literal is required too, and
/// short literals share automaton states, which makes building the automaton several times
/// cheaper (it is built once per process) for a few more candidate rules.
const MAX_PREFILTER_LEN: usize = 8;

/// Most clauses kept for one pattern: the first rules out most texts, a second and third some
/// of what the first lets through; each costs the prefilter a few more literals to find.
pub(super) const MAX_CLAUSES: usize = 3;

/// Clauses of lower-cased literals such that every match of `pattern` (translated, linear, with
/// flags `f`) contains at least one literal of each clause, the best clause first (the one a
/// single-set prefilter would take), at most [`MAX_CLAUSES`]; `None` means "always run this
/// pattern". A clause is only kept when it is not implied by the first (each literal of the
/// first containing one of its literals).
pub(super) fn required_clauses(pattern: &str, f: Flags) -> Option<Vec<Set>> {
    // Parsed case-sensitively: cheaper (no case folding of every letter), and still a
    // superset test because literals are lower-cased and searched case-insensitively.
    let hir = regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .case_insensitive(false)
        .multi_line(f.m)
        .dot_matches_new_line(f.s)
        .ignore_whitespace(f.x)
        .octal(false)
        .build()
        .parse(pattern)
        .ok()?;
    let info = analyse(&hir);
    let first = usable(better(info.required, info.exact.and_then(non_empty))?)?;
    let mut more: Vec<Set> = info.more.into_iter().filter_map(usable).collect();
    // The best first, as `better` judges.
    more.sort_by_key(|c| std::cmp::Reverse(rank(c)));
    let mut clauses = vec![first];
    for c in more {
        if clauses.len() == MAX_CLAUSES {
            break;
        }
        if !clauses.iter().any(|k| implies(k, &c)) {
            clauses.push(c);
        }
    }
    Some(clauses)
}

/// Whether a text holding a literal of `a` holds one of `b` too: every literal of `a`
/// contains one of `b`.
fn implies(a: &Set, b: &Set) -> bool {
    a.iter()
        .all(|x| b.iter().any(|y| memchr::memmem::find(x, y).is_some()))
}

/// A required set as the prefilter takes it (cut to [`MAX_PREFILTER_LEN`], without literals
/// containing others), or `None` when its shortest literal is too short to be useful.
fn usable(set: Set) -> Option<Set> {
    if min_len(&set) < MIN_PREFILTER_LEN {
        return None;
    }
    let mut cut: Set = set
        .into_iter()
        .map(|mut l| {
            l.truncate(MAX_PREFILTER_LEN);
            l
        })
        .collect();
    cut.sort();
    cut.dedup();
    // A literal that contains another is redundant: keep the shorter.
    let keep: Set = cut
        .iter()
        .filter(|l| {
            !cut.iter()
                .any(|o| o.len() < l.len() && memchr::memmem::find(l, o).is_some())
        })
        .cloned()
        .collect();
    Some(keep)
}

type Set = Vec<Vec<u8>>;

struct Info {
    /// Every string the node can match, if that set is small and known.
    exact: Option<Set>,
    /// A set such that every match contains one of them.
    required: Option<Set>,
    /// Other such sets (each required too), not chosen as `required`.
    more: Vec<Set>,
}

fn min_len(set: &Set) -> usize {
    set.iter().map(Vec::len).min().unwrap_or(0)
}

fn non_empty(set: Set) -> Option<Set> {
    (!set.is_empty() && set.iter().all(|s| !s.is_empty())).then_some(set)
}

/// How good a required set is for the prefilter, higher better: the longest shortest literal
/// (the rarest), then the fewest literals.
fn rank(set: &Set) -> (usize, std::cmp::Reverse<usize>) {
    (min_len(set), std::cmp::Reverse(set.len()))
}

fn better(a: Option<Set>, b: Option<Set>) -> Option<Set> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if rank(&b) > rank(&a) { b } else { a }),
        (a, None) => a,
        (None, b) => b,
    }
}

/// [`better`], with the set not chosen added to `more` (it is required all the same).
fn better_keeping(a: Option<Set>, b: Option<Set>, more: &mut Vec<Set>) -> Option<Set> {
    match (a, b) {
        (Some(a), Some(b)) => {
            if rank(&b) > rank(&a) {
                more.push(a);
                Some(b)
            } else {
                more.push(b);
                Some(a)
            }
        }
        (a, None) => a,
        (None, b) => b,
    }
}

fn dedup(mut set: Set) -> Set {
    set.sort();
    set.dedup();
    set
}

fn product(a: &Set, b: &Set) -> Option<Set> {
    if a.len().saturating_mul(b.len()) > MAX_SET {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut s = x.clone();
            s.extend_from_slice(y);
            out.push(s);
        }
    }
    Some(dedup(out))
}

fn class_members(class: &Class) -> Option<Set> {
    let mut out: Set = Vec::new();
    match class {
        Class::Bytes(c) => {
            for r in c.ranges() {
                if usize::from(r.end() - r.start()) >= 16 {
                    return None;
                }
                for b in r.start()..=r.end() {
                    out.push(vec![b.to_ascii_lowercase()]);
                }
            }
        }
        Class::Unicode(c) => {
            for r in c.ranges() {
                if (r.end() as u32 - r.start() as u32) >= 16 {
                    return None;
                }
                for ch in r.start()..=r.end() {
                    let mut buf = [0u8; 4];
                    out.push(
                        ch.to_ascii_lowercase()
                            .encode_utf8(&mut buf)
                            .as_bytes()
                            .to_vec(),
                    );
                }
            }
        }
    }
    let out = dedup(out);
    (out.len() <= 8).then_some(out)
}

fn analyse(hir: &Hir) -> Info {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Info {
            exact: Some(vec![Vec::new()]),
            required: None,
            more: Vec::new(),
        },
        HirKind::Literal(lit) => {
            let s = lit.0.to_ascii_lowercase();
            Info {
                exact: Some(vec![s.clone()]),
                required: Some(vec![s]),
                more: Vec::new(),
            }
        }
        HirKind::Class(c) => Info {
            exact: class_members(c),
            required: None,
            more: Vec::new(),
        },
        HirKind::Capture(c) => analyse(&c.sub),
        HirKind::Repetition(rep) => {
            let sub = analyse(&rep.sub);
            if rep.min == 0 {
                let exact = match (rep.max, sub.exact) {
                    (Some(1), Some(mut e)) => {
                        e.push(Vec::new());
                        Some(dedup(e))
                    }
                    _ => None,
                };
                return Info {
                    exact,
                    required: None,
                    more: Vec::new(),
                };
            }
            let mut more = sub.more;
            let required = better_keeping(
                sub.required,
                sub.exact.clone().and_then(non_empty),
                &mut more,
            );
            let exact = if rep.max == Some(rep.min) && rep.min <= 8 {
                sub.exact.and_then(|e| {
                    let mut acc = vec![Vec::new()];
                    for _ in 0..rep.min {
                        acc = product(&acc, &e)?;
                    }
                    Some(acc)
                })
            } else {
                None
            };
            Info {
                exact,
                required,
                more,
            }
        }
        HirKind::Concat(children) => {
            let mut run: Set = vec![Vec::new()];
            let mut all_exact = true;
            let mut best: Option<Set> = None;
            let mut more = Vec::new();
            for child in children {
                let ci = analyse(child);
                more.extend(ci.more);
                best = better_keeping(best, ci.required, &mut more);
                match ci.exact {
                    Some(e) => match product(&run, &e) {
                        Some(p) => run = p,
                        None => {
                            let done = non_empty(std::mem::take(&mut run));
                            best = better_keeping(best, done, &mut more);
                            all_exact = false;
                            run = e;
                        }
                    },
                    None => {
                        let done = non_empty(std::mem::replace(&mut run, vec![Vec::new()]));
                        best = better_keeping(best, done, &mut more);
                        all_exact = false;
                    }
                }
            }
            let exact = all_exact.then(|| run.clone());
            best = better_keeping(best, non_empty(run), &mut more);
            Info {
                exact,
                required: best,
                more,
            }
        }
        HirKind::Alternation(children) => {
            let mut exact: Option<Set> = Some(Vec::new());
            let mut required: Option<Set> = Some(Vec::new());
            for child in children {
                let ci = analyse(child);
                let child_req = better(ci.required, ci.exact.clone().and_then(non_empty));
                required = match (required, child_req) {
                    (Some(mut r), Some(c)) if r.len() + c.len() <= MAX_SET * 4 => {
                        r.extend(c);
                        Some(r)
                    }
                    _ => None,
                };
                exact = match (exact, ci.exact) {
                    (Some(mut r), Some(c)) if r.len() + c.len() <= MAX_SET => {
                        r.extend(c);
                        Some(r)
                    }
                    _ => None,
                };
            }
            // A conjunction inside one alternative says nothing of the others.
            Info {
                exact: exact.map(dedup),
                required: required.map(dedup),
                more: Vec::new(),
            }
        }
    }
}

#[cfg(test)]
#[path = "literals_tests.rs"]
mod tests;
