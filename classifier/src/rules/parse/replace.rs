//! SpamAssassin's ReplaceTags: `replace_tag`, and `replace_pre`/`replace_inter`/`replace_post`
//! applied only where a rule asks for them (`<pre NAME>`, `<inter NAME>`, `<post NAME>`), in
//! the rules listed by `replace_rules`.

use std::collections::HashMap;

/// The tags and wrappers defined so far.
#[derive(Default)]
pub(super) struct Tags {
    pub tags: HashMap<String, String>,
    pub pre: HashMap<String, String>,
    pub inter: HashMap<String, String>,
    pub post: HashMap<String, String>,
}

/// Expansion passes for tags whose values name other tags (SpamAssassin stops after 6).
const MAX_PASSES: usize = 6;

impl Tags {
    /// Expands the tags in a rule's regex body. `None` when nothing was replaced.
    pub(super) fn apply(&self, body: &str) -> Option<String> {
        let mut re = body.to_owned();
        let mut pre = take_directive(&mut re, "pre");
        let mut post = take_directive(&mut re, "post");
        let mut inter = take_directive(&mut re, "inter");
        for _ in 0..MAX_PASSES {
            let mut parts = split_tags(&re);
            let pre_v = pre.take().and_then(|n| self.pre.get(&n));
            let post_v = post.take().and_then(|n| self.post.get(&n));
            let inter_v = inter.take().and_then(|n| self.inter.get(&n));
            for p in &mut parts {
                if p.is_empty() {
                    // Between two adjacent tags (or before a leading one).
                    if let Some(v) = inter_v {
                        p.clone_from(v);
                    }
                } else if is_tag(p) {
                    if let Some(v) = pre_v {
                        p.insert_str(0, v);
                    }
                    if let Some(v) = post_v {
                        p.push_str(v);
                    }
                }
            }
            let mut again = false;
            for p in &mut parts {
                let Some(start) = p.find('<') else { continue };
                let Some(len) = p[start..].find('>') else {
                    continue;
                };
                let name = &p[start + 1..start + len];
                if let Some(v) = self.tags.get(name) {
                    again |= v.contains('<') && v.contains('>');
                    let tag = format!("<{name}>");
                    *p = p.replace(&tag, v);
                }
            }
            re = parts.concat();
            if !again {
                break;
            }
        }
        (re != body).then_some(re)
    }
}

/// Removes the first `<KIND NAME>` from the regex and returns NAME.
fn take_directive(re: &mut String, kind: &str) -> Option<String> {
    let open = format!("<{kind} ");
    let start = re.find(&open)?;
    let len = re[start..].find('>')?;
    let name = re[start + open.len()..start + len].to_owned();
    re.replace_range(start..start + len + 1, "");
    Some(name)
}

/// Splits like Perl's `split(/(<[^<>]+>)/, $re)`: text and tags alternate, with empty text
/// between adjacent tags and before a leading tag; trailing empty fields dropped.
fn split_tags(re: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut text_start = 0;
    let b = re.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'<' {
            if let Some(len) = b[i + 1..].iter().position(|&c| c == b'<' || c == b'>') {
                if b[i + 1 + len] == b'>' && len > 0 {
                    out.push(re[text_start..i].to_owned());
                    out.push(re[i..i + len + 2].to_owned());
                    i += len + 2;
                    text_start = i;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push(re[text_start..].to_owned());
    while out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    out
}

fn is_tag(p: &str) -> bool {
    p.starts_with('<') && p.ends_with('>')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags() -> Tags {
        let mut t = Tags::default();
        for (k, v) in [("A", "[a@]"), ("B", "[b8]"), ("AB", "<A><B>")] {
            t.tags.insert(k.into(), v.into());
        }
        t.post.insert("P2".into(), "{1,2}".into());
        t.inter.insert("W1".into(), "\\W?".into());
        t.pre.insert("L".into(), "(?:".into());
        t
    }

    #[test]
    fn wrappers_apply_only_where_named() {
        let t = tags();
        assert_eq!(t.apply("x<A><B>y").as_deref(), Some("x[a@][b8]y"));
        assert_eq!(
            t.apply("<post P2><inter W1>x<A><B>").as_deref(),
            Some("x[a@]{1,2}\\W?[b8]{1,2}")
        );
        // A leading tag gets the inter wrapper before it, as in SpamAssassin.
        assert_eq!(t.apply("<inter W1><A>z").as_deref(), Some("\\W?[a@]z"));
        // Nested tags expand; unknown tags stay.
        assert_eq!(t.apply("<AB><C>").as_deref(), Some("[a@][b8]<C>"));
        assert_eq!(t.apply("plain"), None);
    }
}
