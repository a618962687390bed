//! `cargo xtask demo`: runs the firmware on QEMU, then the host demo.
//!
//! The firmware logs each figure it measures on a line of its own, `metric NAME=VALUE`. The
//! demo collects them, prints the firmware's 2015 test table from them, includes them in the
//! `--json` document and fails unless the model that the firmware trained for epochs beats
//! "tomorrow equals today" on both temperatures.

use std::collections::BTreeMap;
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
    let metrics = metrics(&report.lines);
    if let Some(table) = firmware_table(&metrics) {
        writeln!(out, "\n{table}")?;
    }
    writeln!(out, "\n{}", cost_table(&metrics))?;
    let firmware_result = run
        .check(report.outcome, time_limit)
        .and_then(|()| check_beats_persistence(&metrics));

    let mut host = process::cargo();
    host.current_dir(repo_root())
        .args(["run", "--release", "-p", "gradwell-host", "--"])
        .args(HOST_ARGS);
    if options.json {
        // The host's own JSON summary goes into this command's document.
        host.arg("--json");
    }
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
                "metrics": metrics,
                "log": report.lines.iter().map(qemu::LogLine::to_json).collect::<Vec<_>>(),
            },
            "host": {
                "command": host_shown,
                "exit_code": host_output.status.code(),
                "seconds": host_duration.as_secs_f64(),
                // The host's summary as JSON, or its raw output when that is not JSON.
                "summary": serde_json::from_str::<serde_json::Value>(&host_stdout)
                    .unwrap_or_else(|_| serde_json::Value::String(host_stdout.to_string())),
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

/// Prefix of the firmware's log lines that carry one figure, `metric NAME=VALUE`.
const METRIC_PREFIX: &str = "metric ";

/// Models in the firmware's test table, in column order: the metric prefix and the heading.
const TABLE_COLUMNS: [(&str, &str); 3] = [
    ("epochs", "epochs"),
    ("online", "online"),
    ("persistence", "persistence"),
];

/// Rows of the firmware's test table: the metric name and the label.
const TABLE_ROWS: [(&str, &str); 4] = [
    ("temp_max_rmse", "temp_max RMSE (°C)"),
    ("temp_min_rmse", "temp_min RMSE (°C)"),
    ("rain_accuracy", "rain accuracy"),
    ("rain_f1", "rain F1"),
];

/// Collects the `metric NAME=VALUE` lines of a firmware log. A later line with the same name
/// replaces an earlier one, and a value that is not a number is skipped.
fn metrics(lines: &[qemu::LogLine]) -> BTreeMap<String, f64> {
    lines
        .iter()
        .filter_map(|line| line.message.strip_prefix(METRIC_PREFIX))
        .filter_map(|metric| metric.split_once('='))
        .filter_map(|(name, value)| Some((name.trim().to_string(), value.trim().parse().ok()?)))
        .collect()
}

/// Formats the firmware's 2015 test table, or returns `None` when a figure is missing.
fn firmware_table(metrics: &BTreeMap<String, f64>) -> Option<String> {
    let mut table = String::from("demo: 2015 test metrics of the firmware\n");
    table.push_str(&format!("  {:<22}", ""));
    for (_, heading) in TABLE_COLUMNS {
        table.push_str(&format!("{heading:>13}"));
    }
    for (name, label) in TABLE_ROWS {
        table.push_str(&format!("\n  {label:<22}"));
        for (model, _) in TABLE_COLUMNS {
            let value = metrics.get(&format!("{model}.{name}"))?;
            table.push_str(&format!("{value:>13.3}"));
        }
    }
    Some(table)
}

/// Cost and memory figures of the firmware log: (metric name, label, unit).
const COST_ROWS: [(&str, &str, &str); 7] = [
    (
        "train_step_instructions",
        "training step, batch of 32",
        "instructions",
    ),
    (
        "inference_instructions",
        "inference, batch of 1",
        "instructions",
    ),
    ("model_bytes", "model (parameters)", "bytes"),
    (
        "trainer_bytes",
        "trainer (gradients, Adam, activations)",
        "bytes",
    ),
    ("static_ram_bytes", "static RAM (.data + .bss)", "bytes"),
    ("peak_stack_bytes", "peak stack", "bytes"),
    ("flash_bytes", "flash", "bytes"),
];

/// Formats the cost and memory figures of the firmware log; a missing figure shows as
/// "missing".
fn cost_table(metrics: &BTreeMap<String, f64>) -> String {
    let mut table = String::from("demo: cost and memory on the device");
    for (name, label, unit) in COST_ROWS {
        let value = match metrics.get(name) {
            Some(value) => format!("{value:>12.0} {unit}"),
            None => format!("{:>12}", "missing"),
        };
        table.push_str(&format!("\n  {label:<40}{value}"));
    }
    table
}

/// Fails unless the firmware's model trained for epochs has a lower 2015 RMSE than "tomorrow
/// equals today" for both temperatures, or when a figure is missing from the log.
fn check_beats_persistence(metrics: &BTreeMap<String, f64>) -> Result<()> {
    for task in ["temp_max", "temp_min"] {
        let figure = |model: &str| {
            let name = format!("{model}.{task}_rmse");
            metrics
                .get(&name)
                .copied()
                .with_context(|| format!("the firmware log has no `metric {name}=` line"))
        };
        let (model, persistence) = (figure("epochs")?, figure("persistence")?);
        if model >= persistence {
            anyhow::bail!(
                "the firmware's {task} RMSE {model:.3} °C does not beat \"tomorrow equals \
                 today\" ({persistence:.3} °C)"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: &str) -> qemu::LogLine {
        qemu::LogLine {
            source: "info".into(),
            message: message.into(),
            location: None,
        }
    }

    fn complete_metrics(model_rmse: f64) -> BTreeMap<String, f64> {
        let mut metrics = BTreeMap::new();
        for (model, _) in TABLE_COLUMNS {
            for (name, _) in TABLE_ROWS {
                metrics.insert(format!("{model}.{name}"), 2.0);
            }
        }
        metrics.insert("epochs.temp_max_rmse".into(), model_rmse);
        metrics.insert("epochs.temp_min_rmse".into(), model_rmse);
        metrics
    }

    #[test]
    fn metrics_parse_name_and_value() {
        let parsed = metrics(&[
            line("booted"),
            line("metric flash_bytes=120504"),
            line("metric epochs.temp_max_rmse=2.6276428799382705"),
            line("metric broken=not-a-number"),
        ]);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed["flash_bytes"], 120_504.0);
        assert_eq!(parsed["epochs.temp_max_rmse"], 2.6276428799382705);
    }

    #[test]
    fn table_needs_every_figure() {
        let mut metrics = complete_metrics(1.5);
        let table = firmware_table(&metrics).expect("all figures present");
        assert!(table.contains("temp_max RMSE (°C)"), "{table}");
        assert!(table.contains("1.500"), "{table}");
        metrics.remove("online.rain_f1");
        assert!(firmware_table(&metrics).is_none());
    }

    #[test]
    fn persistence_check_passes_lower_rmse() {
        assert!(check_beats_persistence(&complete_metrics(1.5)).is_ok());
    }

    #[test]
    fn persistence_check_rejects_equal_rmse() {
        let error = check_beats_persistence(&complete_metrics(2.0)).unwrap_err();
        assert!(error.to_string().contains("temp_max RMSE 2.000"), "{error}");
    }

    #[test]
    fn persistence_check_rejects_missing_figure() {
        let mut metrics = complete_metrics(1.5);
        metrics.remove("persistence.temp_min_rmse");
        let error = check_beats_persistence(&metrics).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("metric persistence.temp_min_rmse="),
            "{error}"
        );
    }

    #[test]
    fn cost_table_names_missing_figures() {
        let mut metrics = BTreeMap::new();
        metrics.insert("train_step_instructions".to_string(), 2_800_561.0);
        let table = cost_table(&metrics);
        assert!(table.contains("training step, batch of 32"));
        assert!(table.contains("2800561 instructions"));
        assert_eq!(table.matches("missing").count(), COST_ROWS.len() - 1);
    }
}
