//! `cargo xtask setup`: installs what the other commands need when it is missing.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::process::{self, run_checked};
use crate::repo_root;

/// Rust targets: the firmware and the Cortex-M4F build of `core`, and the Cortex-M0+ build.
pub const TARGETS: [&str; 2] = ["thumbv7em-none-eabihf", "thumbv6m-none-eabi"];

/// flip-link version that `setup` installs when none is on `PATH`.
const FLIP_LINK_VERSION: &str = "0.1.12";

/// Installs everything: Rust targets and components, QEMU and flip-link.
pub fn all() -> Result<()> {
    rust()?;
    qemu()?;
    flip_link()?;
    Ok(())
}

/// Adds the Rust targets, rustfmt and clippy to the toolchain of `rust-toolchain.toml` when
/// they are missing.
pub fn rust() -> Result<()> {
    let sysroot = sysroot()?;
    let missing: Vec<&str> = TARGETS
        .into_iter()
        .filter(|target| !sysroot.join("lib/rustlib").join(target).is_dir())
        .collect();
    if missing.is_empty() {
        eprintln!(
            "setup: Rust targets {} are installed",
            TARGETS.join(" and ")
        );
    } else {
        eprintln!("setup: adding Rust targets {}", missing.join(" "));
        run_checked(rustup().args(["target", "add"]).args(&missing))?;
    }

    for (component, subcommand) in [("rustfmt", "fmt"), ("clippy", "clippy")] {
        let present = process::cargo()
            .args([subcommand, "--version"])
            .current_dir(repo_root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !present {
            eprintln!("setup: adding the Rust component {component}");
            run_checked(rustup().args(["component", "add", component]))?;
        }
    }
    Ok(())
}

fn sysroot() -> Result<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .current_dir(repo_root())
        .output()
        .context("failed to run `rustc --print sysroot`; is Rust installed?")?;
    if !output.status.success() {
        bail!(
            "`rustc --print sysroot` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(PathBuf::from(String::from_utf8(output.stdout)?.trim()))
}

fn rustup() -> Command {
    let mut command = Command::new("rustup");
    // In the repository root, rustup picks the toolchain named in `rust-toolchain.toml`.
    command.current_dir(repo_root());
    command
}

/// Installs `qemu-system-arm` with apt-get when it is missing and this process runs as root,
/// or fails with the command to run.
pub fn qemu() -> Result<()> {
    if !process::on_path("qemu-system-arm") {
        install_qemu()?;
    }

    let output = Command::new("qemu-system-arm")
        .arg("--version")
        .output()
        .context("failed to run `qemu-system-arm --version`")?;
    let version = String::from_utf8_lossy(&output.stdout);
    eprintln!(
        "setup: {}",
        version.lines().next().unwrap_or("qemu-system-arm")
    );
    Ok(())
}

fn install_qemu() -> Result<()> {
    const INSTALL: &str = "apt-get install -y --no-install-recommends qemu-system-arm";

    if !process::on_path("apt-get") {
        bail!(
            "qemu-system-arm is not installed and there is no apt-get here; install QEMU's \
             system emulator for Arm (7.2 or newer) with your package manager"
        );
    }
    if !is_root()? {
        bail!(
            "qemu-system-arm is not installed; install it with\n    \
             sudo apt-get update && sudo {INSTALL}"
        );
    }

    eprintln!("setup: installing qemu-system-arm with apt-get");
    run_checked(Command::new("apt-get").arg("update"))?;
    run_checked(
        Command::new("apt-get")
            .args(INSTALL.split(' ').skip(1))
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    if !process::on_path("qemu-system-arm") {
        bail!("apt-get installed qemu-system-arm, but it is still not on PATH");
    }
    Ok(())
}

fn is_root() -> Result<bool> {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .context("failed to run `id -u`")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// Installs flip-link, the linker of the nRF52840 profile, with `cargo install` when it is
/// missing, and makes sure that cargo's `bin` folder is on `PATH` for the builds that follow.
pub fn flip_link() -> Result<()> {
    let cargo_bin = cargo_home()?.join("bin");
    add_to_path(&cargo_bin)?;

    if process::on_path("flip-link") {
        eprintln!("setup: flip-link is installed");
        return Ok(());
    }
    eprintln!("setup: installing flip-link {FLIP_LINK_VERSION}");
    run_checked(process::cargo().args([
        "install",
        "flip-link",
        "--locked",
        "--version",
        FLIP_LINK_VERSION,
    ]))?;
    if !process::on_path("flip-link") {
        bail!(
            "cargo installed flip-link, but it is not in {}",
            cargo_bin.display()
        );
    }
    Ok(())
}

fn cargo_home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home));
    }
    let home = std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cargo"))
}

/// Appends `dir` to this process's `PATH`, which the commands it starts inherit.
fn add_to_path(dir: &std::path::Path) -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if !dirs.iter().any(|existing| existing == dir) {
        dirs.push(dir.to_path_buf());
        let joined = std::env::join_paths(dirs).context("invalid PATH")?;
        // The xtask changes its environment only here, before it starts any other thread.
        std::env::set_var("PATH", joined);
    }
    Ok(())
}
