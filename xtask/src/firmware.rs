//! Builds of the firmware workspace in `firmware/`, and `cargo xtask flash`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::{process, repo_root, setup, target_dir};

/// A build configuration of the firmware: a board and a memory map.
#[derive(Debug)]
pub struct Profile {
    /// Short name, used in folder names.
    pub name: &'static str,
    /// Description of the build, used in step names.
    pub description: &'static str,
    /// Cargo arguments that select the board and the memory map.
    pub args: &'static [&'static str],
}

/// QEMU's `mps2-an386` machine with its own memory map (the default features).
pub const QEMU: Profile = Profile {
    name: "qemu",
    description: "QEMU mps2-an386",
    args: &[],
};

/// QEMU, linked against the map of a part with 512 KB of flash and 128 KB of RAM.
pub const FIT_128K: Profile = Profile {
    name: "fit-128k",
    description: "QEMU, 512 KB flash / 128 KB RAM map",
    args: &["--features", "fit-128k"],
};

/// The nRF52840-DK, linked with flip-link; `.cargo/nrf52840.toml` sets the linker and the
/// probe-rs runner.
pub const NRF52840: Profile = Profile {
    name: "nrf52840",
    description: "nRF52840-DK",
    args: &[
        "--no-default-features",
        "--features",
        "nrf52840",
        "--config",
        ".cargo/nrf52840.toml",
    ],
};

/// Returns the firmware workspace's folder.
pub fn dir() -> PathBuf {
    repo_root().join("firmware")
}

/// Returns `cargo <subcommand>` for `profile`, started in the firmware workspace so that cargo
/// reads `firmware/.cargo/config.toml`.
pub fn cargo(subcommand: &str, profile: &Profile) -> Command {
    let mut command = process::cargo();
    command
        .current_dir(dir())
        .arg(subcommand)
        .args(profile.args);
    command
}

/// Returns where [`build`] puts the ELF file of binary `bin` for `profile`.
pub fn elf(profile: &Profile, bin: &str) -> PathBuf {
    elf_dir(profile).join(bin)
}

fn elf_dir(profile: &Profile) -> PathBuf {
    target_dir().join("xtask/firmware").join(profile.name)
}

/// Builds every firmware binary for `profile` in release mode and copies the ELF files to
/// [`elf`]. Cargo's messages go to `stderr`. Returns the copied files.
///
/// Each profile gets a folder of its own, because cargo writes all of them to the same path.
pub fn build(profile: &Profile, stderr: Stdio) -> Result<Vec<PathBuf>> {
    let out_dir = elf_dir(profile);
    if out_dir.exists() {
        std::fs::remove_dir_all(&out_dir)
            .with_context(|| format!("failed to remove {}", out_dir.display()))?;
    }

    let mut command = cargo("build", profile);
    command
        .args([
            "--release",
            "--bins",
            "--message-format=json-render-diagnostics",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    let command_line = process::display(&command);
    let mut child = command
        .spawn()
        .with_context(|| format!("failed to start `{command_line}`"))?;

    let stdout = child.stdout.take().expect("stdout is piped");
    let mut executables = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("failed to read cargo's output")?;
        if let Some(executable) = executable_of(&line) {
            executables.push(executable);
        }
    }

    let status = child.wait().context("failed to wait for cargo")?;
    if !status.success() {
        bail!("`{command_line}` failed: {status}");
    }

    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("failed to create {}", out_dir.display()))?;
    let mut copied = Vec::new();
    for executable in executables {
        let name = executable
            .file_name()
            .context("executable without a file name")?;
        let destination = out_dir.join(name);
        std::fs::copy(&executable, &destination).with_context(|| {
            format!(
                "failed to copy {} to {}",
                executable.display(),
                destination.display()
            )
        })?;
        copied.push(destination);
    }
    Ok(copied)
}

/// Returns the executable named in one line of cargo's JSON messages, if it names one.
fn executable_of(line: &str) -> Option<PathBuf> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" {
        return None;
    }
    message["executable"].as_str().map(PathBuf::from)
}

/// `cargo xtask flash`: builds the demo for the nRF52840-DK and runs it on the board through
/// probe-rs, the runner set in `firmware/.cargo/nrf52840.toml`.
pub fn flash() -> Result<()> {
    setup::rust()?;
    setup::flip_link()?;
    if !process::on_path("probe-rs") {
        bail!(
            "probe-rs is not installed; install it with `cargo install probe-rs-tools --locked` \
             and connect the nRF52840-DK over USB"
        );
    }

    let mut command = cargo("run", &NRF52840);
    command.args(["--release", "--bin", "gradwell-firmware"]);
    eprintln!("flash: {}", process::display(&command));
    process::run_checked(&mut command)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_of_reads_compiler_artifact() {
        let line = r#"{"reason":"compiler-artifact","executable":"/t/release/panic"}"#;
        assert_eq!(executable_of(line), Some(PathBuf::from("/t/release/panic")));
    }

    #[test]
    fn executable_of_skips_libraries() {
        let line = r#"{"reason":"compiler-artifact","executable":null}"#;
        assert_eq!(executable_of(line), None);
    }

    #[test]
    fn executable_of_skips_other_messages() {
        assert_eq!(
            executable_of(r#"{"reason":"build-finished","success":true}"#),
            None
        );
        assert_eq!(executable_of("not json"), None);
    }
}
