//! `scripts/install` into a temporary prefix: every file where the README says, `man mailsift`
//! finds the page, an existing configuration is never overwritten, and `--uninstall` leaves
//! nothing behind.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("mailsift-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn install(prefix: &Path, etc: &Path, recipes: &Path, extra: &[&str]) -> Output {
    let out = Command::new(repo().join("scripts/install"))
        .arg("--prefix")
        .arg(prefix)
        .arg("--sysconfdir")
        .arg(etc)
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_mailsift"))
        .arg("--recipes")
        .arg(recipes)
        .args(extra)
        .output()
        .expect("run scripts/install");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every file and directory under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            out.push(p.strip_prefix(dir).expect("under").display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn install_then_uninstall_into_a_temporary_prefix() {
    let tmp = TempDir::new("install");
    let (prefix, etc) = (tmp.0.join("usr"), tmp.0.join("etc"));
    // Stand-ins for the delivery recipes: a nested file and an executable wrapper.
    let recipes = tmp.0.join("recipes");
    std::fs::create_dir_all(recipes.join("dovecot")).expect("mkdir");
    std::fs::write(recipes.join("procmailrc"), ":0fw\n| mailsift classify\n").expect("write");
    std::fs::write(recipes.join("dovecot/filter"), "#!/bin/sh\nexec mailsift\n").expect("write");
    std::fs::set_permissions(
        recipes.join("dovecot/filter"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    std::fs::create_dir_all(&etc).expect("mkdir etc");

    install(&prefix, &etc, &recipes, &[]);
    let p = |rel: &str| prefix.join(rel);
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&p("bin/mailsift")), 0o755);
    for page in ["mailsift.1", "mailsift-train.1", "mailsift-db-check.1"] {
        assert_eq!(mode(&p(&format!("share/man/man1/{page}"))), 0o644, "{page}");
    }
    let bash = std::fs::read_to_string(p("share/bash-completion/completions/mailsift"))
        .expect("bash completions");
    assert!(bash.contains("mailsift") && bash.contains("classify"));
    assert!(p("share/zsh/site-functions/_mailsift").is_file());
    assert!(p("share/fish/vendor_completions.d/mailsift.fish").is_file());
    let unit = std::fs::read_to_string(p("lib/systemd/system/mailsift.service")).expect("the unit");
    assert!(
        unit.contains(&format!("ExecStart={}/bin/mailsift ", prefix.display())),
        "{unit}"
    );
    assert_eq!(
        std::fs::read(p("share/mailsift/recipes/procmailrc")).expect("recipe"),
        std::fs::read(recipes.join("procmailrc")).expect("recipe")
    );
    assert_eq!(mode(&p("share/mailsift/recipes/dovecot/filter")), 0o755);
    // The example configuration is valid: mailsift loads it.
    let config = etc.join("mailsift/config.toml");
    let out = Command::new(p("bin/mailsift"))
        .arg("--config")
        .arg(&config)
        .args(["rules", "show", "GTUBE"])
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .expect("run the installed binary");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `man mailsift` finds the page under the prefix.
    if let Ok(out) = Command::new("man")
        .arg("-w")
        .arg("mailsift")
        .env("MANPATH", p("share/man"))
        .output()
    {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            p("share/man/man1/mailsift.1").display().to_string()
        );
    } else {
        eprintln!("man is not installed: skipping the man lookup");
    }

    // A changed configuration survives a reinstall and an uninstall.
    std::fs::write(&config, "required_score = 6.0\n").expect("edit config");
    let out = install(&prefix, &etc, &recipes, &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("keeping the existing"));
    assert_eq!(
        std::fs::read_to_string(&config).expect("config"),
        "required_score = 6.0\n"
    );
    let out = install(&prefix, &etc, &recipes, &["--uninstall"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("keeping"));
    assert_eq!(
        tree(&tmp.0.join("etc")),
        ["mailsift", "mailsift/config.toml"]
    );
    assert!(!prefix.exists(), "{:?}", tree(&prefix));

    // Unchanged, install then uninstall leaves nothing at all.
    std::fs::remove_dir_all(etc.join("mailsift")).expect("rm");
    install(&prefix, &etc, &recipes, &[]);
    install(&prefix, &etc, &recipes, &[]);
    install(&prefix, &etc, &recipes, &["--uninstall"]);
    assert!(!prefix.exists(), "{:?}", tree(&prefix));
    assert_eq!(tree(&etc), Vec::<String>::new());
}

#[test]
fn setup_names_the_command_for_a_missing_npm_and_installs_nothing_without_the_flag() {
    // A copy of scripts/setup in a fresh tree (no corpus laid out), with a PATH that has
    // cargo and python3 but no npm and no apt-get.
    let tmp = TempDir::new("setup");
    let tree = tmp.0.join("repo");
    std::fs::create_dir_all(tree.join("scripts")).expect("mkdir");
    std::fs::copy(repo().join("scripts/setup"), tree.join("scripts/setup")).expect("copy");
    let bin = tmp.0.join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let which = |p: &str| {
        let out = Command::new("bash")
            .args(["-c", &format!("command -v {p}")])
            .output()
            .expect("bash");
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    };
    for tool in ["bash", "dirname", "id", "cargo", "python3"] {
        let path = which(tool);
        if !path.is_file() {
            eprintln!("{tool} not found: skipping the setup test");
            return;
        }
        std::os::unix::fs::symlink(&path, bin.join(tool)).expect("symlink");
    }
    let out = Command::new(bin.join("bash"))
        .arg(tree.join("scripts/setup"))
        .env("PATH", &bin)
        .output()
        .expect("run setup");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("nodejs npm not installed")
            && err.contains("apt-get update && apt-get install -y nodejs npm")
            && err.contains("scripts/setup --install-deps"),
        "{err}"
    );
}
