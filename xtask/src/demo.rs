//! `cargo xtask demo`: runs the firmware on QEMU, then the host demo.

use std::io::{self, Write};
use std::process::{ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::{firmware, process, qemu, repo_root, setup, Options};

/// Arguments of the host program `gradwell` for its demo.
const HOST_ARGS: &[&str] = &["demo", "seattle"];

/// Runs `cargo xtask demo`. With `--json`, the results go to standard output as one JSON
/// document and everything else to standard error.
pub fn run(options: &Options) -> Result<ExitCode> {
    let mut out: Box<dyn Write> = if options.json {
        Box::new(io::stderr())
    } else {
        Box::new(io::stdout())
    };

    setup::all()?;

    writeln!(
        out,
        "\ndemo: building the firmware for {}",
        firmware::QEMU.description
    )?;
    firmware::build(&firmware::QEMU, Stdio::inherit())?;

    let run = &qemu::DEMO;
    let elf = firmware::elf(run.profile, run.bin);
    let time_limit = run.time_limit(options.time_limit);
    writeln!(
        out,
        "\ndemo: running the firmware on QEMU (time limit {} s)\n  $ {}",
        time_limit.as_secs(),
        process::display(&qemu::command(&elf))
    )?;
    let report = qemu::run(&elf, time_limit, &mut |line| {
        let _ = writeln!(out, "  {line}");
    })?;
    let firmware_result = run.check(report.outcome, time_limit);

    let mut host = process::cargo();
    host.current_dir(repo_root())
        .args(["run", "--release", "-p", "gradwell-host", "--"])
        .args(HOST_ARGS);
    let host_shown = process::display(&host);
    writeln!(out, "\ndemo: running the host demo\n  $ {host_shown}")?;
    let host_start = Instant::now();
    let host_output = host
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("failed to start `{host_shown}`"))?;
    let host_duration = host_start.elapsed();
    let host_stdout = String::from_utf8_lossy(&host_output.stdout);
    for line in host_stdout.lines() {
        writeln!(out, "  {line}")?;
    }

    writeln!(out, "\ndemo summary")?;
    writeln!(
        out,
        "  firmware on {}: {} after {:.1} s, {} log lines{}",
        firmware::QEMU.description,
        report.outcome,
        report.duration.as_secs_f64(),
        report.lines.len(),
        match &firmware_result {
            Ok(()) => String::new(),
            Err(error) => format!(" (FAILED: {error:#})"),
        }
    )?;
    let host_outcome = match host_output.status.code() {
        Some(code) => format!("exit status {code}"),
        None => host_output.status.to_string(),
    };
    writeln!(
        out,
        "  host `gradwell {}`: {host_outcome} after {:.1} s",
        HOST_ARGS.join(" "),
        host_duration.as_secs_f64()
    )?;

    if options.json {
        let document = serde_json::json!({
            "firmware": {
                "machine": "mps2-an386",
                "elf": elf,
                "outcome": report.outcome.to_string(),
                "passed": firmware_result.is_ok(),
                "seconds": report.duration.as_secs_f64(),
                "log": report.lines.iter().map(qemu::LogLine::to_json).collect::<Vec<_>>(),
            },
            "host": {
                "command": host_shown,
                "exit_code": host_output.status.code(),
                "seconds": host_duration.as_secs_f64(),
                "stdout": host_stdout,
            },
        });
        println!("{}", serde_json::to_string_pretty(&document)?);
    }

    let passed = firmware_result.is_ok() && host_output.status.success();
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
