//! `mailsift man` and `mailsift completions`: the manual pages and shell completions, generated
//! from the clap definitions, so they always list the commands and options the binary has.
//! `scripts/install` writes both under the install prefix.

use std::io::Write;
use std::path::PathBuf;

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

/// Renders the top-level page, mailsift.1.
fn render_main(out: &mut dyn Write) -> std::io::Result<()> {
    // As in clap_mangen::generate_to: `help` is a flag here, not a command with its own page.
    clap_mangen::Man::new(command().disable_help_subcommand(true)).render(out)
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
            clap_mangen::generate_to(command(), dir)
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
