//! `mailsift man` and `mailsift completions`: the manual pages and shell completions, generated
//! from the clap definitions, so they always list the commands and options the binary has.
//! `scripts/install` writes both under the install prefix.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, ValueEnum};

/// Options for `mailsift man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write mailsift.1 and one page per command (mailsift-train.1, mailsift-db-check.1, ...)
    /// into this directory instead of printing mailsift.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The shells `mailsift completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// bash (bash-completion): install as share/bash-completion/completions/mailsift.
    Bash,
    /// zsh: install as share/zsh/site-functions/_mailsift.
    Zsh,
    /// fish: install as share/fish/vendor_completions.d/mailsift.fish.
    Fish,
}

/// Options for `mailsift completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

fn command() -> clap::Command {
    crate::Cli::command()
}

/// The command tree as the pages describe it: `help` is a flag here, not a command with its own
/// page (as in `clap_mangen::generate_to`), and built, so subcommands have their display names
/// (`mailsift-db-check`).
fn page_tree() -> clap::Command {
    let mut cmd = command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

/// The top-level page's FILES and ENVIRONMENT sections.
const FILES_AND_ENVIRONMENT: &str = "
.SH FILES
.TP
/etc/mailsift/config.toml
The site\\-wide configuration, read first.
.TP
$XDG_CONFIG_HOME/mailsift/config.toml (~/.config/mailsift/config.toml)
The user's configuration, read next; then \\-\\-config PATH. Each later file overrides the keys it sets.
.TP
$XDG_DATA_HOME/mailsift/mailsift.db (~/.local/share/mailsift/mailsift.db)
The token database when neither \\-\\-db nor MAILSIFT_DB names one.
.TP
DATABASE.sock
The socket of the classify server (mailsift serve) for that database, where classify looks for it.
.SH ENVIRONMENT
.TP
MAILSIFT_DB
The token database, as \\-\\-db.
.TP
MAILSIFT_USER
The user whose model is used and trained, as \\-\\-user.
.TP
MAILSIFT_SOCKET
The classify server's socket, as \\-\\-socket of classify and serve.
.TP
XDG_CONFIG_HOME, XDG_DATA_HOME, HOME
Where the user's configuration and the default database are.";

/// Escapes one line of text for roff.
fn roff_line(line: &str) -> String {
    let text = line.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}

/// The after-help text (`Examples:` and, on the top page, `Exit codes:` blocks) as man sections,
/// kept line for line (no filling: the examples are aligned columns).
fn after_help_sections(text: &str) -> String {
    let mut out = String::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines();
        let title = match lines.next() {
            Some(first) if first.ends_with(':') => {
                match first.trim_end_matches(':').to_uppercase().as_str() {
                    "EXAMPLE" | "EXAMPLES" => "EXAMPLES".to_owned(),
                    "EXIT CODES" => "EXIT STATUS".to_owned(),
                    other => other.to_owned(),
                }
            }
            _ => {
                lines = block.lines();
                "NOTES".to_owned()
            }
        };
        out.push_str(&format!("\n.SH {title}\n.nf"));
        for line in lines {
            out.push('\n');
            out.push_str(&roff_line(line));
        }
        out.push_str("\n.fi");
    }
    out
}

/// Renders one page: clap_mangen's, with its single "EXTRA" block of after-help text replaced
/// by EXAMPLES (and EXIT STATUS) sections and, on the top-level page, FILES and ENVIRONMENT.
fn render_page(cmd: &clap::Command, top: bool, out: &mut dyn Write) -> std::io::Result<()> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut buf)?;
    let page = String::from_utf8_lossy(&buf).into_owned();
    let mut sections = cmd
        .get_after_long_help()
        .map(|h| after_help_sections(&h.to_string()))
        .unwrap_or_default();
    if top {
        sections.push_str(FILES_AND_ENVIRONMENT);
    }
    const EXTRA: &str = "\n.SH EXTRA\n";
    let (start, end) = match page.find(EXTRA) {
        Some(start) => {
            let rest = start + EXTRA.len();
            let end = page[rest..].find("\n.SH ").map_or(page.len(), |e| rest + e);
            (start, end)
        }
        None => {
            let at = page.find("\n.SH VERSION").unwrap_or(page.len());
            (at, at)
        }
    };
    out.write_all(&page.as_bytes()[..start])?;
    out.write_all(sections.as_bytes())?;
    out.write_all(&page.as_bytes()[end..])
}

/// Renders the top-level page, mailsift.1.
fn render_main(out: &mut dyn Write) -> std::io::Result<()> {
    render_page(&page_tree(), true, out)
}

/// Writes `NAME.1` for `cmd` and every command under it into `dir`.
fn write_pages(cmd: &clap::Command, top: bool, dir: &Path) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, false, dir)?;
    }
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    let mut file = std::fs::File::create(dir.join(format!("{name}.1")))?;
    render_page(cmd, top, &mut file)?;
    file.flush()
}

/// `mailsift man`.
pub fn man(args: &ManArgs) -> Result<i32> {
    match &args.dir {
        None => {
            let mut out = std::io::stdout().lock();
            render_main(&mut out)?;
            out.flush()?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            write_pages(&page_tree(), true, dir)
                .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
        }
    }
    Ok(0)
}

fn render_completions(shell: Shell, out: &mut dyn Write) {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut command(), "mailsift", out);
}

/// `mailsift completions SHELL`.
pub fn completions(args: &CompletionsArgs) -> Result<i32> {
    // clap_complete writes with `write_all(..).expect(..)`; render into memory first so a
    // closed stdout is an ordinary write error (a quiet exit for a broken pipe), not a panic.
    let mut buf = Vec::new();
    render_completions(args.shell, &mut buf);
    let mut out = std::io::stdout().lock();
    out.write_all(&buf)?;
    out.flush()?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subcommand_names() -> Vec<String> {
        command()
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .collect()
    }

    #[test]
    fn every_command_has_examples_in_its_long_help() {
        fn check(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let name = format!("{path} {}", cmd.get_name());
            let has = cmd
                .get_after_long_help()
                .is_some_and(|h| h.to_string().contains("Example"));
            if !has {
                missing.push(name.clone());
            }
            for sub in cmd.get_subcommands() {
                check(sub, &name, missing);
            }
        }
        let mut missing = Vec::new();
        let root = command();
        for sub in root.get_subcommands() {
            check(sub, "mailsift", &mut missing);
        }
        assert_eq!(missing, Vec::<String>::new(), "commands without examples");
    }

    #[test]
    fn the_man_page_lists_every_command() {
        let mut page = Vec::new();
        render_main(&mut page).expect("render");
        let page = String::from_utf8(page).expect("utf-8");
        assert!(
            page.starts_with(".ie \\n(.g .ds Aq"),
            "roff: {}",
            &page[..40]
        );
        for name in subcommand_names().iter().filter(|n| *n != "help") {
            assert!(
                page.contains(&format!("mailsift\\-{name}(1)")),
                "{name} missing"
            );
        }
        assert!(!page.contains("mailsift\\-help(1)"), "no page for help");
        assert!(page.contains("db check: problems found"), "exit codes");
        for section in [
            ".SH EXAMPLES",
            ".SH EXIT STATUS",
            ".SH FILES",
            ".SH ENVIRONMENT",
        ] {
            assert!(page.contains(&format!("\n{section}\n")), "{section}");
        }
        assert!(!page.contains(".SH EXTRA") && page.contains("\n.SH VERSION\n"));
        assert!(page.contains("\n.nf\n  mailsift train spam ~/Maildir/.Junk "));
        assert!(page.contains("MAILSIFT_DB") && page.contains("/etc/mailsift/config.toml"));
    }

    #[test]
    fn every_command_page_has_its_examples_as_a_section() {
        let dir = std::env::temp_dir().join(format!("mailsift-man-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("mkdir");
        write_pages(&page_tree(), true, &dir).expect("write pages");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let page = std::fs::read_to_string(&path).expect("page");
            assert!(page.contains("\n.SH EXAMPLES\n.nf\n"), "{}", path.display());
            assert!(!page.contains(".SH EXTRA"), "{}", path.display());
            n += 1;
        }
        assert!(n > 15, "{n} pages");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn completions_name_every_command_in_each_shell() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut buf = Vec::new();
            render_completions(shell, &mut buf);
            let script = String::from_utf8(buf).expect("utf-8");
            for name in subcommand_names() {
                assert!(script.contains(&name), "{shell:?}: {name} missing");
            }
            // Nested commands and options are there too.
            assert!(
                script.contains("backup") && script.contains("quiet"),
                "{shell:?}"
            );
        }
    }
}
