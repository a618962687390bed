//! Build, run and test automation for gradwell, run as `cargo xtask <command>` from anywhere in
//! the repository (the alias lives in `.cargo/config.toml`).

mod demo;
mod firmware;
mod parity;
mod process;
mod qemu;
mod setup;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, Context, Result};

const USAGE: &str = "\
Usage: cargo xtask <command> [options]

Commands:
  setup    Install what the other commands need when it is missing: the Rust targets
           thumbv7em-none-eabihf and thumbv6m-none-eabi, rustfmt and clippy, qemu-system-arm
           (with apt-get, as root) and flip-link.
  demo     Build the firmware, run it on QEMU (mps2-an386) with its defmt log decoded live,
           then run the host demo.
  test     Run every check in order (formatting, clippy, docs, host tests, builds for every
           target and board, QEMU runs), log each to target/xtask-logs/ and print a summary.
  flash    Build the firmware for the nRF52840-DK and run it on the board with probe-rs.
  parity   Run the bit-identity cases on QEMU and natively, and compare the results bit for
           bit (`cargo xtask test` does this too).

Options:
  --json                 (demo) Print the results as one JSON document on standard output;
                         progress goes to standard error.
  --time-limit SECONDS   (demo, test) Time limit of each QEMU run, replacing its default
                         (300 s for the demo). Runs that are expected to time out keep theirs.
  -h, --help             Print this help.
";

/// Command-line options shared by the commands.
#[derive(Debug, Default)]
struct Options {
    json: bool,
    time_limit: Option<Duration>,
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let Some(command) = args.next() else {
        eprint!("{USAGE}");
        return Ok(ExitCode::FAILURE);
    };
    if command == "-h" || command == "--help" || command == "help" {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let options = parse_options(args)?;

    match command.as_str() {
        "setup" => {
            setup::all()?;
            Ok(ExitCode::SUCCESS)
        }
        "demo" => demo::run(&options),
        "test" => test::run(&options),
        "parity" => parity::command(&options),
        "flash" => {
            firmware::flash()?;
            Ok(ExitCode::SUCCESS)
        }
        other => bail!("unknown command `{other}`; run `cargo xtask --help` for the list"),
    }
}

fn parse_options(mut args: impl Iterator<Item = String>) -> Result<Options> {
    let mut options = Options::default();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => options.json = true,
            "--time-limit" => {
                let value = args
                    .next()
                    .context("missing value for --time-limit: expected whole seconds")?;
                let seconds: u64 = value.parse().with_context(|| {
                    format!("invalid --time-limit `{value}`: expected whole seconds")
                })?;
                options.time_limit = Some(Duration::from_secs(seconds));
            }
            other => bail!("unknown option `{other}`; run `cargo xtask --help` for the list"),
        }
    }
    Ok(options)
}

/// Returns the repository root, the parent of this crate's folder.
///
/// `cargo run` sets `CARGO_MANIFEST_DIR` at run time as well. That value comes first, because
/// the path compiled in is stale when a checkout is copied together with its `target` folder.
fn repo_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        manifest_dir
            .parent()
            .expect("xtask lives in a folder of the repository")
            .to_path_buf()
    })
}

/// Returns the root workspace's target folder, honoring `CARGO_TARGET_DIR`.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => repo_root().join(dir),
        None => repo_root().join("target"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options> {
        parse_options(args.iter().map(|arg| arg.to_string()))
    }

    #[test]
    fn options_default_to_none() {
        let options = parse(&[]).unwrap();
        assert!(!options.json);
        assert_eq!(options.time_limit, None);
    }

    #[test]
    fn options_parse_json_and_time_limit() {
        let options = parse(&["--json", "--time-limit", "42"]).unwrap();
        assert!(options.json);
        assert_eq!(options.time_limit, Some(Duration::from_secs(42)));
    }

    #[test]
    fn options_reject_invalid_time_limit() {
        let error = parse(&["--time-limit", "soon"]).unwrap_err();
        assert!(error.to_string().contains("`soon`"), "{error}");
    }

    #[test]
    fn options_reject_missing_time_limit() {
        assert!(parse(&["--time-limit"]).is_err());
    }

    #[test]
    fn options_reject_unknown_flag() {
        let error = parse(&["--fast"]).unwrap_err();
        assert!(error.to_string().contains("`--fast`"), "{error}");
    }
}
