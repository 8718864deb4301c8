//! Stores of tokenizer versions 4, 5 and 6 under version 7 (E46, E47, E48): they keep learning
//! and forgetting their own token stream, on every backend, and a copy keeps its version.

use super::tests::{Subject, dump_all, subjects};
use super::*;
use crate::engine::Engine;

/// A message with a display name and a delivery recipient: version 5 adds its name pair,
/// version 6 its copy tokens, and version 7 tells its body (enough words) by its words.
fn newsletter(n: u32, to: &str) -> Vec<u8> {
    format!(
        "Delivered-To: {to}\nFrom: \"Weekly Deals {n}\" <issue{n}@news.example.com>\n\
         To: {to}\nSubject: this week's deals number {n}\n\nsave on everything this week {n}\n\
         our stores have shoes hats coats and scarves for the whole family at prices you will \
         like very much indeed, and this week only every customer who comes in with this letter \
         gets a free cup of coffee and a biscuit while they shop, because we know that choosing \
         winter boots for three children is thirsty work, and our staff will gladly help you \
         find the right size, colour and style for everyone at home\n"
    )
    .into_bytes()
}

/// The current engine, and one whose tokenizer emits version `old`'s stream.
fn engines(old: u32) -> (Engine, Engine) {
    let mut past = Engine::default();
    match old {
        6 => past.set("copy_text", "false").expect("switch"),
        _ => past.set("copies", "false").expect("switch"),
    }
    if old < 5 {
        past.set("recipient_names", "false").expect("switch");
    }
    (Engine::default(), past)
}

fn ops(engine: &Engine, class: Option<Class>) -> Vec<LearnOp> {
    (0..6)
        .map(|n| {
            let to = if n % 2 == 0 {
                "a@site.example"
            } else {
                "b@site.example"
            };
            let action = match class {
                Some(c) => Action::Learn(c),
                None => Action::Forget,
            };
            engine.analyze(&newsletter(n, to)).op(action)
        })
        .collect()
}

fn set_version(store: &mut Store, v: u32) {
    store
        .b_mut()
        .set_meta("tokenizer_version", &v.to_string())
        .expect("set version");
}

#[test]
fn older_stores_learn_and_forget_their_own_stream() {
    for version in [4, 5, 6] {
        older_store_learns_and_forgets_its_own_stream(version);
    }
}

fn older_store_learns_and_forgets_its_own_stream(version: u32) {
    let (v5, v4) = engines(version);
    let with_names = ops(&v5, Some(Class::Ham));
    assert!(
        with_names
            .iter()
            .all(|op| op.tokens.differs_before(version)),
        "every message has tokens version {version} does not emit"
    );
    for Subject {
        name,
        mut store,
        server,
        ..
    } in subjects(StoreOptions::default())
    {
        // The same messages learned by the version-4 tokenizer into a version-4 store...
        let mut old = Store::open_in_memory(StoreOptions::default()).expect("memory");
        set_version(&mut old, version);
        old.apply(None, &ops(&v4, Some(Class::Ham)))
            .expect("v4 learn");
        // ... and by this one, into a store of each backend marked with that version.
        set_version(&mut store, version);
        let out = store.apply(None, &with_names).expect("learn");
        assert!(
            out.iter().all(|o| *o == Outcome::Learned),
            "{name}: {out:?}"
        );
        assert_eq!(
            dump_all(&store),
            dump_all(&old),
            "{name}: the same counts and ledger"
        );
        assert!(store.check().expect("check").problems.is_empty(), "{name}");
        if let Some(server) = &server {
            // A one-off classify's lazy open (the metadata checked with the first read)
            // takes the v4 store too.
            let url = format!("{}?prefix=t:", server.url(3));
            let lazy = Store::open_for_classify(Path::new(&url), StoreOptions::default())
                .expect("lazy open");
            let mut counts = Vec::new();
            let hashes = &with_names[0].tokens.hashes;
            let totals = lazy.model(None).expect("model").read(hashes, &mut counts);
            assert_eq!(totals.expect("read").ham, 6, "{name}");
        }
        // A flip and a forget made with names are exact too.
        store
            .apply(None, &ops(&v5, Some(Class::Spam))[..2])
            .expect("flip");
        old.apply(None, &ops(&v4, Some(Class::Spam))[..2])
            .expect("v4 flip");
        assert_eq!(dump_all(&store), dump_all(&old), "{name}: after the flip");
        store.apply(None, &ops(&v5, None)).expect("forget");
        assert!(dump_all(&store).is_empty(), "{name}: forget leaves nothing");
        assert!(store.check().expect("check").problems.is_empty(), "{name}");
        assert_eq!(
            store.tokenizer_version().expect("version"),
            version,
            "{name}"
        );
    }
}

#[test]
fn a_current_store_learns_the_name_pairs_and_copy_tokens() {
    let (v5, _) = engines(4);
    let learned = ops(&v5, Some(Class::Spam));
    let names: Vec<u64> = learned
        .iter()
        .flat_map(|o| {
            let t = &o.tokens;
            t.v5_only
                .iter()
                .chain(&t.content)
                .chain(&t.content_rcpt)
                .copied()
        })
        .collect();
    for Subject {
        name,
        mut store,
        server: _server,
        ..
    } in subjects(StoreOptions::default())
    {
        assert_eq!(
            store.tokenizer_version().expect("version"),
            crate::tokenize::TOKENIZER_VERSION,
            "{name}"
        );
        store.apply(None, &learned).expect("learn");
        let m = store.model(None).expect("model");
        let mut counts = Vec::new();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        m.read(&sorted, &mut counts).expect("read");
        assert!(
            counts.iter().all(|c| c.spam > 0),
            "{name}: every name pair and copy token learned: {counts:?}"
        );
    }
}

#[test]
fn a_copy_keeps_the_version_of_its_source() {
    let (v5, _) = engines(4);
    let mut old = Store::open_in_memory(StoreOptions::default()).expect("memory");
    set_version(&mut old, 4);
    old.apply(None, &ops(&v5, Some(Class::Ham))).expect("learn");
    for Subject {
        name,
        mut store,
        server: _server,
        ..
    } in subjects(StoreOptions::default())
    {
        old.copy_to(&mut store).expect("copy");
        assert_eq!(store.tokenizer_version().expect("version"), 4, "{name}");
        assert_eq!(dump_all(&store), dump_all(&old), "{name}");
        store.apply(None, &ops(&v5, None)).expect("forget");
        assert!(dump_all(&store).is_empty(), "{name}: forget leaves nothing");
        assert!(store.check().expect("check").problems.is_empty(), "{name}");
    }
}
