//! Helpers for starting commands.

use std::ffi::OsStr;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Returns a `cargo` command, using the same cargo that runs this xtask.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    Command::new(program)
}

/// Formats a command the way a user would type it, with its environment overrides and folder.
pub fn display(command: &Command) -> String {
    let mut parts = Vec::new();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            parts.push(format!("{}={}", key.to_string_lossy(), quote(value)));
        }
    }
    let program = command.get_program();
    let program = if program == std::env::var_os("CARGO").unwrap_or_default() {
        "cargo".into()
    } else {
        quote(program)
    };
    parts.push(program);
    parts.extend(command.get_args().map(quote));

    let line = parts.join(" ");
    match command.get_current_dir() {
        Some(dir) => format!("(in {}) {line}", dir.display()),
        None => line,
    }
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@".contains(c));
    if plain {
        word.into_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Runs `command` with inherited standard streams and fails unless it exits with status 0.
pub fn run_checked(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("failed to start `{}`", display(command)))?;
    if !status.success() {
        bail!("`{}` failed: {status}", display(command));
    }
    Ok(())
}

/// Returns whether `program` is an executable file in a folder of `PATH`.
pub fn on_path(program: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program)))
}

/// Returns whether `path` is a file with an execute permission bit set.
pub fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_words_with_spaces() {
        let mut command = Command::new("qemu-system-arm");
        command.args(["-kernel", "my image"]);
        assert_eq!(display(&command), "qemu-system-arm -kernel 'my image'");
    }

    #[test]
    fn display_shows_environment_and_folder() {
        let mut command = Command::new("rustdoc");
        command
            .env("RUSTDOCFLAGS", "-D warnings")
            .current_dir("/tmp");
        assert_eq!(
            display(&command),
            "(in /tmp) RUSTDOCFLAGS='-D warnings' rustdoc"
        );
    }
}
