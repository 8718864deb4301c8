//! cargo-fuzz target: parse → tokenize → classify → annotate, with the fail-open contract.
//!
//! ```text
//! RUSTC_BOOTSTRAP=1 cargo fuzz run pipeline fuzz/corpus/pipeline ../tests/fixtures/malformed -- -max_total_time=14400
//! ```
//! (cargo-fuzz needs nightly flags; on the stable toolchain RUSTC_BOOTSTRAP=1 enables them.)
//! Without cargo-fuzz, `cargo run --release -p mailsift-cli --example fuzz` runs the same
//! checks as a mutation fuzzer on plain stable Rust.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mailsift::{Action, Class, Engine, MemoryModel};

fn setup() -> &'static (Engine, MemoryModel) {
    static SETUP: OnceLock<(Engine, MemoryModel)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let engine = Engine::new();
        let mut model = MemoryModel::new();
        for (i, text) in [
            "Subject: cheap meds\n\nviagra casino winner prize free money click",
            "Subject: meeting notes\n\nagenda minutes review patch build release",
        ]
        .iter()
        .enumerate()
        {
            let class = if i == 0 { Class::Spam } else { Class::Ham };
            model.apply(&engine.analyze(text.as_bytes()).op(Action::Learn(class)));
        }
        (engine, model)
    })
}

fuzz_target!(|input: &[u8]| {
    let (engine, model) = setup();
    let analysis = engine.analyze(input);
    let verdict = engine
        .verdict(&analysis, model)
        .expect("an in-memory model cannot fail");
    assert!(verdict.score.is_finite());
    let out = engine.annotate(input, &verdict, None);
    match mailsift::headers::header_block(input) {
        None => assert_eq!(out, input, "input without headers must pass through unchanged"),
        Some(block) => {
            let mut expected = mailsift::headers::strip_spam_headers(input);
            if block.end == input.len()
                && expected.len() > block.start
                && !expected.ends_with(b"\n")
            {
                expected.extend_from_slice(if block.crlf { b"\r\n" } else { b"\n" });
            }
            assert_eq!(
                mailsift::headers::strip_spam_headers(&out),
                expected,
                "output differs from the input beyond the X-Spam-* headers"
            );
        }
    }
});
