//! Tests of what only the SQLite backend has: the long-lived reader's token cache, files on
//! disk, tampering with the tables.

use super::tests::op;
use super::*;

#[test]
fn long_reader_cache_follows_commits_by_other_connections() {
    let dir = std::env::temp_dir().join(format!("mailsift-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("c.db");
    let mut writer =
        Store::open(&path, OpenMode::ReadWrite, StoreOptions::default()).expect("writer");
    writer
        .apply(None, &[op(1, &[10, 11], Action::Learn(Class::Spam))])
        .expect("learn");
    let mut reader =
        Store::open(&path, OpenMode::ReadOnly, StoreOptions::default()).expect("reader");
    reader.tune_for_long_reader().expect("tune");
    let mut c = Vec::new();
    // 12 is absent: cached as zero counts, and must not stay zero once learned.
    reader
        .model(None)
        .expect("model")
        .lookup(&[10, 12, 10], &mut c)
        .expect("lookup");
    assert_eq!(
        c,
        [
            Counts { spam: 1, ham: 0 },
            Counts::default(),
            Counts { spam: 1, ham: 0 }
        ]
    );
    writer
        .apply(None, &[op(2, &[10, 12], Action::Learn(Class::Ham))])
        .expect("learn");
    reader
        .model(None)
        .expect("model")
        .lookup(&[12, 10, 11], &mut c)
        .expect("lookup");
    assert_eq!(
        c,
        [
            Counts { spam: 0, ham: 1 },
            Counts { spam: 1, ham: 1 },
            Counts { spam: 1, ham: 0 }
        ]
    );
    // Preloaded: absent tokens answer without a query, and a commit still invalidates.
    assert!(reader.preload_token_cache().expect("preload"));
    assert!(reader.token_cache_complete());
    reader
        .model(None)
        .expect("model")
        .lookup(&[12, 99, 11], &mut c)
        .expect("lookup");
    assert_eq!(
        c,
        [
            Counts { spam: 0, ham: 1 },
            Counts::default(),
            Counts { spam: 1, ham: 0 }
        ]
    );
    writer
        .apply(None, &[op(4, &[99], Action::Learn(Class::Spam))])
        .expect("learn");
    reader
        .model(None)
        .expect("model")
        .lookup(&[99], &mut c)
        .expect("lookup");
    assert_eq!(c, [Counts { spam: 1, ham: 0 }]);
    assert!(!reader.token_cache_complete(), "a commit makes it partial");
    // A user model reads past the cache, and the site rows it combines are current.
    writer
        .apply(Some("alice"), &[op(3, &[11], Action::Learn(Class::Ham))])
        .expect("alice");
    reader
        .model(Some("alice"))
        .expect("alice")
        .lookup(&[11], &mut c)
        .expect("lookup");
    assert_eq!(c, [Counts { spam: 1, ham: 1 }]);
    drop((reader, writer));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn check_detects_tampering() {
    let mut s = Store::open_in_memory(StoreOptions::default()).expect("open");
    s.apply(None, &[op(1, &[1, 2, 3], Action::Learn(Class::Spam))])
        .expect("learn");
    s.as_sqlite()
        .expect("sqlite")
        .conn
        .execute("UPDATE tokens SET spam = spam + 1 WHERE hash = 2", [])
        .expect("tamper");
    assert!(!s.check().expect("check").problems.is_empty());
}

#[test]
fn on_disk_store_roundtrip_and_errors() {
    let dir = std::env::temp_dir().join(format!("mailsift-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("sub/bayes.db");
    assert!(matches!(
        Store::open(&path, OpenMode::ReadOnly, StoreOptions::default()),
        Err(Error::Missing(_))
    ));
    {
        let mut s =
            Store::open(&path, OpenMode::ReadWrite, StoreOptions::default()).expect("create");
        s.apply(None, &[op(1, &[1], Action::Learn(Class::Ham))])
            .expect("learn");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "database must be owner-only");
    }
    let s = Store::open(&path, OpenMode::ReadOnly, StoreOptions::default()).expect("reopen");
    assert_eq!(
        s.model(None).expect("model").totals(),
        Totals { spam: 0, ham: 1 }
    );
    let garbage = dir.join("garbage.db");
    std::fs::write(&garbage, b"this is not sqlite at all, just some text padding it out..................................................").expect("write");
    assert!(matches!(
        Store::open(&garbage, OpenMode::ReadOnly, StoreOptions::default()),
        Err(Error::Corrupt { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A schema 2 store (before the token learner's columns, E25) is read as it is, its learner
/// reading as empty, and migrated to 3 on the first write; then the learner is stored.
#[test]
fn a_schema_2_store_gets_the_learner_columns_on_the_first_write() {
    let dir = std::env::temp_dir().join(format!("mailsift-v2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("v2.db");
    let mut store = Store::open(&path, OpenMode::ReadWrite, StoreOptions::default()).expect("new");
    store
        .apply(None, &[op(1, &[10, 11], Action::Learn(Class::Spam))])
        .expect("learn");
    // What schema 2 had: no learner columns.
    store
        .as_sqlite()
        .expect("sqlite")
        .conn
        .execute_batch(
            "ALTER TABLE tokens DROP COLUMN lr; ALTER TABLE totals DROP COLUMN lr;
             ALTER TABLE ledger DROP COLUMN lr_grad; PRAGMA user_version = 2;",
        )
        .expect("make v2");
    drop(store);
    let params = crate::logreg::TokenLrParams {
        weight: 1.0,
        ..Default::default()
    };
    let read = |s: &Store| {
        let mut lr = crate::logreg::LrRead::default();
        let mut counts = Vec::new();
        s.model(None)
            .expect("model")
            .read_lr(&[10, 11], &mut counts, &mut lr)
            .expect("read");
        (counts, lr.margin(&params, 2))
    };
    let reader = Store::open(&path, OpenMode::ReadOnly, StoreOptions::default()).expect("ro");
    assert_eq!(reader.stats(None).expect("stats").schema_version, 2);
    assert_eq!(read(&reader), (vec![Counts { spam: 1, ham: 0 }; 2], 0.0));
    drop(reader);
    let mut store = Store::open(&path, OpenMode::ReadWrite, StoreOptions::default()).expect("rw");
    assert_eq!(store.stats(None).expect("stats").schema_version, 3);
    let learn = LearnOp {
        lr: Some(params),
        ..op(2, &[10, 11], Action::Learn(Class::Spam))
    };
    store.apply(None, &[learn]).expect("learn with the learner");
    let (counts, margin) = read(&store);
    assert_eq!(counts, vec![Counts { spam: 2, ham: 0 }; 2]);
    assert!(margin > 0.0, "{margin}");
    assert!(store.check().expect("check").problems.is_empty());
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
