//! The bit-identity check: compares the results that a firmware `parity` binary logged on QEMU
//! with the same cases of `gradwell-parity` run natively here.
//!
//! The device logs, per case, each tensor's value count and FNV-1a digest, and for small cases
//! every value's bit pattern (line format in `tests/parity/src/device.rs`). A digest that
//! differs fails the check, which names the case, the tensor and, where the values were
//! logged, the first differing value with its host and device bits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use gradwell_parity::{weather, Digest, Sink, CASES};

use crate::firmware;
use crate::qemu::{self, LogLine, Outcome};
use crate::{process, setup, target_dir, Options};

/// Step name of the Cortex-M0 build in `cargo xtask test`.
pub const M0_BUILD_STEP: &str = "build firmware (Cortex-M0 parity, QEMU microbit)";

/// The set of cases that a parity binary runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every case, the weather case included, which the Cortex-M4F runs with two square-root
    /// backends.
    All,
    /// Every case of [`CASES`], without the weather case, for a device with little RAM.
    WithoutWeather,
}

/// Returns the cases that binary `bin` runs, or `None` when it is not a parity binary.
pub fn selection(bin: &str) -> Option<Selection> {
    match bin {
        "parity" => Some(Selection::All),
        "parity-m0" => Some(Selection::WithoutWeather),
        _ => None,
    }
}

/// One tensor computed on the host.
struct HostTensor {
    name: String,
    values: Vec<f32>,
}

/// One tensor as the device logged it.
#[derive(Default)]
struct DeviceTensor {
    name: String,
    count: u32,
    digest: u64,
    /// Bit patterns, when the case was small enough to log them.
    bits: Vec<u32>,
}

/// One case as the device logged it.
#[derive(Default)]
struct DeviceCase {
    tensors: Vec<DeviceTensor>,
    /// Count and digest of the whole case, from its closing line.
    total: Option<(u32, u64)>,
}

/// The parsed device log: its cases in order, the closing count and the outcome of the
/// PyTorch golden checks.
#[derive(Default)]
struct DeviceLog {
    order: Vec<String>,
    cases: BTreeMap<String, DeviceCase>,
    done: Option<u32>,
    /// Golden cases that passed and failed, from the closing `golden done` line.
    golden: Option<(u32, u32)>,
    /// Golden cases with values outside their tolerance.
    golden_failures: Vec<String>,
}

/// Compares the parity lines in `lines` with the host's results for `selection`. Writes a
/// summary to `log`, and fails on the first difference of each case.
pub fn check(selection: Selection, lines: &[LogLine], log: &mut dyn std::io::Write) -> Result<()> {
    let device = parse(lines)?;
    let host = host_cases(selection);

    let golden_cases = gradwell_parity::golden::CASES.len() as u32;
    match device.golden {
        None => bail!(
            "the device log has no line `golden done`: the PyTorch golden checks did not finish"
        ),
        Some((passed, 0)) if passed == golden_cases => writeln!(
            log,
            "\nPyTorch golden checks: {passed} of {golden_cases} cases passed"
        )?,
        Some((passed, failed)) => bail!(
            "PyTorch golden checks on the device: {passed} passed, {failed} failed of \
             {golden_cases}; failed: {}",
            device.golden_failures.join(", ")
        ),
    }

    let Some(done) = device.done else {
        bail!(
            "the device log ends before the line `parity done`: the firmware stopped after {} cases",
            device.order.len()
        );
    };
    let host_names: Vec<&str> = host.iter().map(|(name, _)| name.as_str()).collect();
    let device_names: Vec<&str> = device.order.iter().map(String::as_str).collect();
    if host_names != device_names || done as usize != device_names.len() {
        bail!(
            "the device ran the cases {device_names:?} (closing count {done}), the host expects \
             {host_names:?}"
        );
    }

    let mut mismatches = Vec::new();
    let mut values = 0u64;
    for (name, tensors) in &host {
        let case = &device.cases[name];
        values += tensors.iter().map(|t| t.values.len() as u64).sum::<u64>();
        if let Err(message) = compare_case(tensors, case) {
            mismatches.push(format!("case {name}: {message}"));
        }
    }
    writeln!(
        log,
        "\nbit identity: {} cases, {values} values compared, {} differ",
        host.len(),
        mismatches.len()
    )?;
    for mismatch in &mismatches {
        writeln!(log, "{mismatch}")?;
    }
    if !mismatches.is_empty() {
        bail!(
            "{} of {} cases differ between host and device; first: {}",
            mismatches.len(),
            host.len(),
            mismatches[0]
        );
    }
    Ok(())
}

/// `cargo xtask parity`: builds the `parity` firmware, runs it on QEMU and compares its
/// results with the host's.
pub fn command(options: &Options) -> Result<ExitCode> {
    setup::all()?;
    let run = qemu::RUNS
        .iter()
        .find(|run| run.bin == "parity")
        .context("no QEMU run of the `parity` binary in qemu::RUNS")?;
    eprintln!(
        "parity: building the firmware for {}",
        run.profile.description
    );
    firmware::build(run.profile, Stdio::inherit())?;

    let elf = firmware::elf(run.profile, run.bin);
    let time_limit = run.time_limit(options.time_limit);
    let report = qemu::run(&elf, time_limit, &mut |line| {
        if !line.message.starts_with("parity ") {
            eprintln!("{line}");
        }
    })?;
    run.check(report.outcome, time_limit)?;
    check(Selection::All, &report.lines, &mut std::io::stdout())?;

    eprintln!("parity: building the Cortex-M0 firmware");
    process::run_checked(&mut m0_cargo(&["build", "--release"]))?;
    let time_limit = options.time_limit.unwrap_or(qemu::CHECK_TIME_LIMIT);
    run_m0(time_limit, &mut std::io::stdout())?;
    Ok(ExitCode::SUCCESS)
}

/// Returns the folder of the Cortex-M0 firmware, a cargo workspace of its own.
pub fn m0_dir() -> PathBuf {
    firmware::dir().join("parity-m0")
}

fn m0_target_dir() -> PathBuf {
    target_dir().join("xtask/parity-m0")
}

/// Returns the ELF file that `m0_cargo(&["build", "--release"])` writes.
fn m0_elf() -> PathBuf {
    m0_target_dir().join("thumbv6m-none-eabi/release/parity-m0")
}

/// Returns `cargo <args>` started in the Cortex-M0 firmware's workspace, so that cargo reads
/// its `.cargo/config.toml`, with a target folder under the repository's.
pub fn m0_cargo(args: &[&str]) -> Command {
    let mut command = process::cargo();
    command
        .current_dir(m0_dir())
        .env("CARGO_TARGET_DIR", m0_target_dir())
        .args(args);
    command
}

/// Runs the Cortex-M0 firmware, built by [`M0_BUILD_STEP`], on QEMU's `microbit` machine,
/// writes its log to `log` and compares its results with the host's.
pub fn run_m0(time_limit: Duration, log: &mut dyn std::io::Write) -> Result<()> {
    let elf = m0_elf();
    writeln!(
        log,
        "$ {}\n(time limit {} s)\n",
        process::display(&qemu::command_with_args(qemu::MICROBIT_ARGS, &elf)),
        time_limit.as_secs()
    )?;
    let mut write_error = None;
    let report = qemu::run_with_args(qemu::MICROBIT_ARGS, &elf, time_limit, &mut |line| {
        if let Err(error) = writeln!(log, "{line}") {
            write_error.get_or_insert(error);
        }
    })?;
    if let Some(error) = write_error {
        return Err(error).context("failed to write the QEMU log");
    }
    writeln!(
        log,
        "\nQEMU: {} after {:.1} s",
        report.outcome,
        report.duration.as_secs_f64()
    )?;
    match report.outcome {
        Outcome::Exited(0) => {}
        Outcome::TimedOut => bail!(
            "the Cortex-M0 parity run timed out after {} s and was killed",
            time_limit.as_secs()
        ),
        other => bail!("the Cortex-M0 parity run ended with {other}; expected exit status 0"),
    }
    check(Selection::WithoutWeather, &report.lines, log)
}

/// Runs the cases of `selection` natively and returns each case's tensors.
fn host_cases(selection: Selection) -> Vec<(String, Vec<HostTensor>)> {
    let mut cases: Vec<(String, Vec<HostTensor>)> = CASES
        .iter()
        .map(|case| (case.name.to_string(), collect(case.run)))
        .collect();
    if selection == Selection::All {
        let mut state: Box<weather::WeatherRun> = Box::default();
        // The device runs the case with two square-root backends, and both must give the bits
        // of `libm`'s.
        for name in [weather::NAME, weather::HW_SQRT_NAME] {
            cases.push((
                name.to_string(),
                collect(|sink| weather::run(&mut state, sink)),
            ));
        }
    }
    cases
}

fn collect(run: impl FnOnce(&mut dyn Sink)) -> Vec<HostTensor> {
    let mut tensors = Vec::new();
    run(&mut |name: &str, values: &[f32]| {
        tensors.push(HostTensor {
            name: name.to_string(),
            values: values.to_vec(),
        })
    });
    tensors
}

/// Compares one case tensor by tensor and returns a description of the first difference.
fn compare_case(host: &[HostTensor], device: &DeviceCase) -> Result<(), String> {
    for (index, host_tensor) in host.iter().enumerate() {
        let Some(device_tensor) = device.tensors.get(index) else {
            return Err(format!(
                "the device logged {} tensors, the host computed {}; first missing: {}",
                device.tensors.len(),
                host.len(),
                host_tensor.name
            ));
        };
        if device_tensor.name != host_tensor.name {
            return Err(format!(
                "tensor {index} is `{}` on the host but `{}` on the device",
                host_tensor.name, device_tensor.name
            ));
        }
        let mut digest = Digest::new();
        digest.update(&host_tensor.values);
        if digest.count() != device_tensor.count {
            return Err(format!(
                "tensor `{}` has {} values on the host but {} on the device",
                host_tensor.name,
                digest.count(),
                device_tensor.count
            ));
        }
        if digest.hash() == device_tensor.digest {
            continue;
        }
        if device_tensor.bits.is_empty() {
            return Err(format!(
                "tensor `{}` differs: digest {:016x} on the host, {:016x} on the device (the \
                 device logs only digests for cases this large)",
                host_tensor.name,
                digest.hash(),
                device_tensor.digest
            ));
        }
        return Err(first_difference(host_tensor, device_tensor));
    }
    if device.tensors.len() > host.len() {
        return Err(format!(
            "the device logged {} tensors, the host computed {}; first extra: {}",
            device.tensors.len(),
            host.len(),
            device.tensors[host.len()].name
        ));
    }
    Ok(())
}

/// Describes the first value that differs between two tensors whose digests differ.
fn first_difference(host: &HostTensor, device: &DeviceTensor) -> String {
    if device.bits.len() != host.values.len() {
        return format!(
            "tensor `{}` differs, and the device logged {} of its {} values",
            host.name,
            device.bits.len(),
            host.values.len()
        );
    }
    let differing = host
        .values
        .iter()
        .zip(&device.bits)
        .position(|(value, &bits)| value.to_bits() != bits);
    match differing {
        Some(index) => {
            let host_value = host.values[index];
            let device_value = f32::from_bits(device.bits[index]);
            format!(
                "tensor `{}` value {index} differs: host {:#010x} ({host_value:e}), device \
                 {:#010x} ({device_value:e})",
                host.name,
                host_value.to_bits(),
                device.bits[index]
            )
        }
        None => format!(
            "tensor `{}` differs in its digest, but its logged values match",
            host.name
        ),
    }
}

/// Reads the parity lines of a device log.
fn parse(lines: &[LogLine]) -> Result<DeviceLog> {
    let mut device = DeviceLog::default();
    for line in lines {
        let message = &line.message;
        let result = if let Some(rest) = message.strip_prefix("parity ") {
            parse_fields(&rest.split('|').collect::<Vec<_>>(), &mut device)
        } else if let Some(rest) = message.strip_prefix("golden ") {
            parse_golden_fields(&rest.split('|').collect::<Vec<_>>(), &mut device)
        } else {
            continue;
        };
        result.with_context(|| format!("invalid line `{message}`"))?;
    }
    Ok(device)
}

fn parse_golden_fields(fields: &[&str], device: &mut DeviceLog) -> Result<()> {
    match fields {
        ["mismatch", ..] => {}
        ["case", case, _compared, mismatches, _] => {
            if mismatches.parse::<u32>()? > 0 {
                device.golden_failures.push(case.to_string());
            }
        }
        ["done", passed, failed] => device.golden = Some((passed.parse()?, failed.parse()?)),
        _ => bail!("unknown golden line"),
    }
    Ok(())
}

fn parse_fields(fields: &[&str], device: &mut DeviceLog) -> Result<()> {
    match fields {
        ["tensor", case, tensor, count, digest] => {
            let case = case_entry(device, case);
            case.tensors.push(DeviceTensor {
                name: tensor.to_string(),
                count: count.parse()?,
                digest: digest.parse()?,
                bits: Vec::new(),
            });
        }
        ["values", case, tensor, offset, bits] => {
            let case = case_entry(device, case);
            let last = case
                .tensors
                .last_mut()
                .filter(|last| last.name == *tensor)
                .context("values before their tensor line")?;
            let offset: usize = offset.parse()?;
            if offset != last.bits.len() {
                bail!("values at offset {offset}, expected {}", last.bits.len());
            }
            last.bits.extend(parse_bits(bits)?);
        }
        ["case", case, count, digest] => {
            case_entry(device, case).total = Some((count.parse()?, digest.parse()?));
        }
        ["done", cases] => device.done = Some(cases.parse()?),
        _ => bail!("unknown parity line"),
    }
    Ok(())
}

fn case_entry<'a>(device: &'a mut DeviceLog, case: &str) -> &'a mut DeviceCase {
    if !device.cases.contains_key(case) {
        device.order.push(case.to_string());
    }
    device.cases.entry(case.to_string()).or_default()
}

/// Parses a defmt slice such as `[1065353216, 0]`.
fn parse_bits(text: &str) -> Result<Vec<u32>> {
    let inner = text
        .strip_prefix('[')
        .and_then(|text| text.strip_suffix(']'))
        .context("expected a list in brackets")?;
    inner
        .split(',')
        .map(|item| item.trim().parse::<u32>().map_err(Into::into))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(message: &str) -> LogLine {
        LogLine {
            source: "info".into(),
            message: message.into(),
            location: None,
        }
    }

    /// Returns the log lines the device would write for `tensors` under case `case`.
    fn device_lines(case: &str, tensors: &[HostTensor]) -> Vec<LogLine> {
        let mut lines = Vec::new();
        for tensor in tensors {
            let mut digest = Digest::new();
            digest.update(&tensor.values);
            lines.push(line(&format!(
                "parity tensor|{case}|{}|{}|{}",
                tensor.name,
                digest.count(),
                digest.hash()
            )));
            let bits: Vec<String> = tensor
                .values
                .iter()
                .map(|v| v.to_bits().to_string())
                .collect();
            lines.push(line(&format!(
                "parity values|{case}|{}|0|[{}]",
                tensor.name,
                bits.join(", ")
            )));
        }
        lines
    }

    fn sample_tensors() -> Vec<HostTensor> {
        vec![
            HostTensor {
                name: "y.0".into(),
                values: vec![1.0, -2.5],
            },
            HostTensor {
                name: "grad 0.weight".into(),
                values: vec![0.25, 3.0, 1e-7],
            },
        ]
    }

    #[test]
    fn compare_accepts_identical_values() {
        let tensors = sample_tensors();
        let device = parse(&device_lines("c", &tensors)).unwrap();
        assert!(compare_case(&tensors, &device.cases["c"]).is_ok());
    }

    #[test]
    fn compare_names_first_differing_value() {
        let tensors = sample_tensors();
        let mut changed = sample_tensors();
        changed[1].values[1] = f32::from_bits(3.0f32.to_bits() + 1);
        let device = parse(&device_lines("c", &changed)).unwrap();
        let message = compare_case(&tensors, &device.cases["c"]).unwrap_err();
        assert!(
            message.contains("`grad 0.weight` value 1 differs"),
            "{message}"
        );
        assert!(message.contains("host 0x40400000"), "{message}");
        assert!(message.contains("device 0x40400001"), "{message}");
    }

    #[test]
    fn compare_names_tensor_when_only_digests_logged() {
        let tensors = sample_tensors();
        let mut changed = sample_tensors();
        changed[0].values[0] = 1.5;
        let lines: Vec<LogLine> = device_lines("c", &changed)
            .into_iter()
            .filter(|line| !line.message.starts_with("parity values"))
            .collect();
        let device = parse(&lines).unwrap();
        let message = compare_case(&tensors, &device.cases["c"]).unwrap_err();
        assert!(
            message.contains("tensor `y.0` differs: digest"),
            "{message}"
        );
    }

    #[test]
    fn check_rejects_log_without_golden_line() {
        let error = check(Selection::WithoutWeather, &[], &mut Vec::new()).unwrap_err();
        assert!(
            error.to_string().contains("no line `golden done`"),
            "{error}"
        );
    }

    #[test]
    fn check_rejects_log_without_done_line() {
        let passed = gradwell_parity::golden::CASES.len();
        let lines = [line(&format!("golden done|{passed}|0"))];
        let error = check(Selection::WithoutWeather, &lines, &mut Vec::new()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("ends before the line `parity done`"),
            "{error}"
        );
    }

    #[test]
    fn check_names_failed_golden_cases() {
        let lines = [
            line("golden case|dense_relu_batch4|27|1|max difference"),
            line("golden done|19|1"),
        ];
        let error = check(Selection::WithoutWeather, &lines, &mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("19 passed, 1 failed"), "{error}");
        assert!(error.to_string().contains("dense_relu_batch4"), "{error}");
    }

    #[test]
    fn parse_bits_reads_defmt_slice() {
        assert_eq!(parse_bits("[1065353216, 0]").unwrap(), [1065353216, 0]);
        assert!(parse_bits("1, 2").is_err());
    }
}
