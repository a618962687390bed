//! `cargo xtask test`: every check in order, each a named step with its output in a log file
//! under `target/xtask-logs/`. A failed step does not stop the ones after it; the command ends
//! with a summary table and the line `N passed, N failed`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::firmware::{self, Profile};
use crate::{parity, process, qemu, repo_root, setup, target_dir, Options};

/// Lines of a failed step's log command_line on the terminal.
const TAIL_LINES: usize = 40;

/// One check of `cargo xtask test`.
struct Step {
    name: String,
    /// Name of an earlier step that must have passed for this one to run, such as the build of
    /// the image that a QEMU run starts.
    needs: Option<String>,
    action: Action,
}

enum Action {
    /// Runs a command; the step passes when it exits with status 0.
    Command(Command),
    /// Builds the firmware binaries of a profile (see [`firmware::build`]).
    FirmwareBuild(&'static Profile),
    /// Runs a firmware binary on QEMU and checks how the run ends.
    Qemu(&'static qemu::Run),
    /// Runs the Cortex-M0 parity firmware on QEMU and compares its results with the host's.
    ParityM0,
}

/// Result of one step, for the summary.
struct StepResult {
    name: String,
    passed: bool,
    duration: Duration,
}

/// Runs `cargo xtask test`.
pub fn run(options: &Options) -> Result<ExitCode> {
    setup::all()?;

    let log_dir = target_dir().join("xtask-logs");
    if log_dir.exists() {
        std::fs::remove_dir_all(&log_dir)
            .with_context(|| format!("failed to remove {}", log_dir.display()))?;
    }
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("failed to create {}", log_dir.display()))?;

    let steps = steps();
    let total = steps.len();
    let mut results: Vec<StepResult> = Vec::new();
    println!();

    for (index, step) in steps.into_iter().enumerate() {
        let number = index + 1;
        let log_path = log_dir.join(format!("{number:02}-{}.log", slug(&step.name)));
        print!("[{number:>2}/{total}] {} ... ", step.name);
        let _ = std::io::stdout().flush();

        let start = Instant::now();
        let failed_need = step.needs.as_ref().filter(|needed| {
            results
                .iter()
                .any(|result| &result.name == *needed && !result.passed)
        });
        let result = match failed_need {
            Some(needed) => Err(anyhow::anyhow!("not run, because step `{needed}` failed")),
            None => execute(step.action, &log_path, options),
        };
        let duration = start.elapsed();

        match &result {
            Ok(()) => println!("ok ({})", seconds(duration)),
            Err(error) => {
                println!("FAILED ({})", seconds(duration));
                report_failure(&step.name, error, &log_path);
            }
        }
        results.push(StepResult {
            name: step.name,
            passed: result.is_ok(),
            duration,
        });
    }

    print_summary(&results, &log_dir);
    let failed = results.iter().filter(|result| !result.passed).count();
    println!("{}", summary_line(results.len() - failed, failed));
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Returns every step, in order: formatting, lints, docs, host tests, builds, QEMU runs.
fn steps() -> Vec<Step> {
    let mut steps = Vec::new();
    let mut add = |name: String, action: Action| {
        steps.push(Step {
            name,
            needs: None,
            action,
        })
    };

    add(
        "fmt".into(),
        Action::Command(root_cargo(&["fmt", "--all", "--check"])),
    );
    let mut fmt_firmware = process::cargo();
    // Without `--all`, because with it cargo fmt follows the path dependency on `core` into the
    // root workspace, which the step above checks.
    fmt_firmware
        .current_dir(firmware::dir())
        .args(["fmt", "--check"]);
    add("fmt firmware".into(), Action::Command(fmt_firmware));
    let mut fmt_m0 = process::cargo();
    fmt_m0
        .current_dir(parity::m0_dir())
        .args(["fmt", "--check"]);
    add(
        "fmt firmware (Cortex-M0 parity)".into(),
        Action::Command(fmt_m0),
    );

    add(
        "clippy".into(),
        Action::Command(root_cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])),
    );
    for target in setup::TARGETS {
        for features in [&[][..], &["--features", "defmt"][..]] {
            let mut command = root_cargo(&["clippy", "-p", "gradwell", "--target", target]);
            command.args(features).args(["--", "-D", "warnings"]);
            add(
                format!("clippy core {target}{}", features_suffix(features)),
                Action::Command(command),
            );
        }
    }
    for profile in [&firmware::QEMU, &firmware::NRF52840] {
        let mut command = firmware::cargo("clippy", profile);
        command.args(["--", "-D", "warnings"]);
        add(
            format!("clippy firmware ({})", profile.description),
            Action::Command(command),
        );
    }

    add(
        "clippy firmware (Cortex-M0 parity)".into(),
        Action::Command(parity::m0_cargo(&[
            "clippy",
            "--release",
            "--",
            "-D",
            "warnings",
        ])),
    );

    let mut doc = root_cargo(&["doc", "--workspace", "--no-deps"]);
    doc.env("RUSTDOCFLAGS", "-D warnings");
    add("doc".into(), Action::Command(doc));

    add(
        "host tests".into(),
        Action::Command(root_cargo(&["test", "--workspace"])),
    );

    // The micromath activations are approximate, so instead of bit identity their error
    // bounds are checked, in the table test of core/src/math.rs.
    add(
        "core tests --features micromath (error bounds)".into(),
        Action::Command(root_cargo(&[
            "test",
            "-p",
            "gradwell",
            "--lib",
            "--features",
            "micromath",
            "math::",
        ])),
    );

    for target in ["thumbv6m-none-eabi", "thumbv7em-none-eabihf"] {
        for features in [&[][..], &["--features", "defmt"][..]] {
            let mut command = root_cargo(&["build", "-p", "gradwell", "--target", target]);
            command.args(features);
            add(
                format!("build core {target}{}", features_suffix(features)),
                Action::Command(command),
            );
        }
    }

    for profile in [&firmware::QEMU, &firmware::FIT_128K, &firmware::NRF52840] {
        add(build_step_name(profile), Action::FirmwareBuild(profile));
    }

    add(
        parity::M0_BUILD_STEP.into(),
        Action::Command(parity::m0_cargo(&["build", "--release"])),
    );

    for run in qemu::RUNS {
        steps.push(Step {
            name: format!("qemu: {}", run.name),
            needs: Some(build_step_name(run.profile)),
            action: Action::Qemu(run),
        });
    }
    steps.push(Step {
        name: "qemu: bit identity with the host on a Cortex-M0 (microbit)".into(),
        needs: Some(parity::M0_BUILD_STEP.into()),
        action: Action::ParityM0,
    });
    steps
}

fn root_cargo(args: &[&str]) -> Command {
    let mut command = process::cargo();
    command.current_dir(repo_root()).args(args);
    command
}

fn features_suffix(features: &[&str]) -> String {
    match features {
        [] => String::new(),
        _ => format!(" {}", features.join(" ")),
    }
}

fn build_step_name(profile: &Profile) -> String {
    format!("build firmware ({})", profile.description)
}

/// Runs one step with its output in the log file at `log_path`.
fn execute(action: Action, log_path: &Path, options: &Options) -> Result<()> {
    let mut log = File::create(log_path)
        .with_context(|| format!("failed to create {}", log_path.display()))?;
    let result = match action {
        Action::Command(command) => execute_command(command, &mut log),
        Action::FirmwareBuild(profile) => execute_build(profile, &mut log),
        Action::Qemu(run) => execute_qemu(run, &mut log, options),
        Action::ParityM0 => parity::run_m0(
            options.time_limit.unwrap_or(qemu::CHECK_TIME_LIMIT),
            &mut log,
        ),
    };
    if let Err(error) = &result {
        writeln!(log, "\nFAILED: {error:#}")?;
    }
    result
}

fn execute_command(mut command: Command, log: &mut File) -> Result<()> {
    let command_line = process::display(&command);
    writeln!(log, "$ {command_line}\n")?;
    let status = command
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log.try_clone()?)
        .status()
        .with_context(|| format!("failed to start `{command_line}`"))?;
    if !status.success() {
        bail!("`{command_line}` failed: {status}");
    }
    Ok(())
}

fn execute_build(profile: &Profile, log: &mut File) -> Result<()> {
    writeln!(
        log,
        "building every firmware binary for {}\n",
        profile.description
    )?;
    let copied = firmware::build(profile, log.try_clone()?.into())?;
    writeln!(log)?;
    for path in copied {
        writeln!(log, "ELF: {}", path.display())?;
    }
    Ok(())
}

fn execute_qemu(run: &qemu::Run, log: &mut File, options: &Options) -> Result<()> {
    let elf = firmware::elf(run.profile, run.bin);
    let time_limit = run.time_limit(options.time_limit);
    writeln!(
        log,
        "$ {}\n(time limit {} s, expected {})\n",
        process::display(&qemu::command(&elf)),
        time_limit.as_secs(),
        run.expected
    )?;

    let mut write_error = None;
    let report = qemu::run(&elf, time_limit, &mut |line| {
        if let Err(error) = writeln!(log, "{line}") {
            write_error.get_or_insert(error);
        }
    })?;
    if let Some(error) = write_error {
        return Err(error).context("failed to write the QEMU log");
    }

    writeln!(
        log,
        "\nQEMU: {} after {}",
        report.outcome,
        seconds(report.duration)
    )?;
    run.check(report.outcome, time_limit)?;
    if let Some(selection) = parity::selection(run.bin) {
        parity::check(selection, &report.lines, log)?;
    }
    Ok(())
}

fn report_failure(name: &str, error: &anyhow::Error, log_path: &Path) {
    println!("    {error:#}");
    let Ok(text) = std::fs::read_to_string(log_path) else {
        return;
    };
    let command_line = relative(log_path).display().to_string();
    println!("    ---- last {TAIL_LINES} lines of {command_line} (step `{name}`) ----");
    for line in tail(&text, TAIL_LINES) {
        println!("    | {line}");
    }
    println!("    ---- end of {command_line} ----");
}

/// Returns the last `count` lines of `text`.
fn tail(text: &str, count: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(count)..].to_vec()
}

fn print_summary(results: &[StepResult], log_dir: &Path) {
    let width = results
        .iter()
        .map(|result| result.name.len())
        .max()
        .unwrap_or(0)
        .max("step".len());

    println!();
    println!("Summary (logs in {}/)", relative(log_dir).display());
    println!(
        "  {:>2}  {:<width$}  {:<6}  {:>8}",
        "#", "step", "result", "time"
    );
    for (index, result) in results.iter().enumerate() {
        let verdict = if result.passed { "passed" } else { "FAILED" };
        println!(
            "  {:>2}  {:<width$}  {:<6}  {:>8}",
            index + 1,
            result.name,
            verdict,
            seconds(result.duration)
        );
    }
    let total: Duration = results.iter().map(|result| result.duration).sum();
    println!("  total time {}", seconds(total));
    println!();
}

/// Returns the closing line, which CI reads.
fn summary_line(passed: usize, failed: usize) -> String {
    format!("{passed} passed, {failed} failed")
}

fn seconds(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

fn relative(path: &Path) -> PathBuf {
    path.strip_prefix(repo_root())
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Returns `name` as a file name: lowercase letters and digits, words joined by `-`.
fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_format() {
        assert_eq!(summary_line(23, 1), "23 passed, 1 failed");
    }

    #[test]
    fn slug_joins_words_with_dashes() {
        assert_eq!(
            slug("clippy core thumbv6m-none-eabi --features defmt"),
            "clippy-core-thumbv6m-none-eabi-features-defmt"
        );
        assert_eq!(slug("qemu: demo, 512 KB flash"), "qemu-demo-512-kb-flash");
    }

    #[test]
    fn tail_returns_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), ["b", "c"]);
        assert_eq!(tail("a\n", 5), ["a"]);
        assert!(tail("", 3).is_empty());
    }

    #[test]
    fn step_names_are_unique() {
        let names: Vec<String> = steps().into_iter().map(|step| step.name).collect();
        for (i, name) in names.iter().enumerate() {
            assert!(
                !names[i + 1..].contains(name),
                "duplicate step name `{name}`"
            );
        }
    }

    #[test]
    fn qemu_steps_need_an_existing_build_step() {
        let steps = steps();
        for step in &steps {
            if let Some(needed) = &step.needs {
                assert!(
                    steps.iter().any(|other| &other.name == needed),
                    "step `{}` needs the missing step `{needed}`",
                    step.name
                );
            }
        }
    }
}
