//! Runs firmware on QEMU's `mps2-an386` machine under a time limit, with its defmt log decoded
//! on the host, and the table of QEMU runs that `cargo xtask test` checks.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use defmt_decoder::{DecodeError, Locations, Table};

use crate::firmware::{self, Profile};
use crate::repo_root;

/// QEMU's arguments before the ELF file. `-icount shift=0` makes every instruction advance the
/// virtual clock by 1 ns, so SysTick counts instructions (see `firmware/src/board`).
const QEMU_ARGS: &[&str] = &[
    "-cpu",
    "cortex-m4",
    "-machine",
    "mps2-an386",
    "-nographic",
    "-semihosting-config",
    "enable=on,target=native",
    "-icount",
    "shift=0",
    "-kernel",
];

/// QEMU's arguments before the ELF file for the `microbit` machine (nRF51822, Cortex-M0), which
/// runs `firmware/parity-m0`.
pub const MICROBIT_ARGS: &[&str] = &[
    "-machine",
    "microbit",
    "-nographic",
    "-semihosting-config",
    "enable=on,target=native",
    "-kernel",
];

/// Exit code of a panic, `fault::EXIT_PANIC` in `firmware/src/fault.rs`.
const EXIT_PANIC: i32 = 101;

/// Exit code of a HardFault, `fault::EXIT_HARD_FAULT` in `firmware/src/fault.rs`.
const EXIT_HARD_FAULT: i32 = 102;

/// Default time limit of the demo run.
pub const DEMO_TIME_LIMIT: Duration = Duration::from_secs(300);

/// Default time limit of the runs that check one feature.
pub const CHECK_TIME_LIMIT: Duration = Duration::from_secs(60);

/// Result of a QEMU run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// QEMU exited with this status, which is the firmware's exit code.
    Exited(i32),
    /// QEMU was killed by this signal.
    Signaled(i32),
    /// The run reached its time limit and the xtask killed QEMU.
    TimedOut,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Exited(code) => write!(f, "exit status {code}"),
            Outcome::Signaled(signal) => write!(f, "killed by signal {signal}"),
            Outcome::TimedOut => f.write_str("timed out"),
        }
    }
}

/// A firmware binary that `cargo xtask test` runs on QEMU, and how the run must end.
///
/// To add one, add the binary to `firmware/src/bin/` and `firmware/Cargo.toml`, then a row to
/// [`RUNS`]. The firmware build step of `profile` builds every binary.
#[derive(Debug)]
pub struct Run {
    /// Step name in `cargo xtask test`.
    pub name: &'static str,
    pub profile: &'static Profile,
    /// Binary name in `firmware/Cargo.toml`.
    pub bin: &'static str,
    pub expected: Outcome,
    /// Time limit unless `--time-limit` replaces it. Runs that expect [`Outcome::TimedOut`]
    /// always keep theirs.
    pub time_limit: Duration,
}

impl Run {
    /// Returns the time limit of this run, given the `--time-limit` option.
    pub fn time_limit(&self, option: Option<Duration>) -> Duration {
        match option {
            Some(limit) if self.expected != Outcome::TimedOut => limit,
            _ => self.time_limit,
        }
    }

    /// Fails unless `outcome` is the expected one.
    pub fn check(&self, outcome: Outcome, time_limit: Duration) -> Result<()> {
        if outcome == self.expected {
            return Ok(());
        }
        match outcome {
            Outcome::TimedOut => bail!(
                "QEMU run `{}` timed out after {} s and was killed; expected {}",
                self.name,
                time_limit.as_secs(),
                self.expected
            ),
            _ => bail!(
                "QEMU run `{}` ended with {outcome}; expected {}",
                self.name,
                self.expected
            ),
        }
    }
}

/// The demo on QEMU, which `cargo xtask demo` runs too.
pub const DEMO: Run = Run {
    name: "demo",
    profile: &firmware::QEMU,
    bin: "gradwell-firmware",
    expected: Outcome::Exited(0),
    time_limit: DEMO_TIME_LIMIT,
};

/// Every QEMU run of `cargo xtask test`, in order.
pub const RUNS: &[Run] = &[
    DEMO,
    Run {
        name: "demo, 512 KB flash / 128 KB RAM map",
        profile: &firmware::FIT_128K,
        bin: "gradwell-firmware",
        expected: Outcome::Exited(0),
        time_limit: DEMO_TIME_LIMIT,
    },
    Run {
        name: "instruction counter calibration",
        profile: &firmware::QEMU,
        bin: "counter-calibration",
        expected: Outcome::Exited(0),
        time_limit: CHECK_TIME_LIMIT,
    },
    Run {
        name: "panic exits with the panic code",
        profile: &firmware::QEMU,
        bin: "panic",
        expected: Outcome::Exited(EXIT_PANIC),
        time_limit: CHECK_TIME_LIMIT,
    },
    Run {
        name: "stack overflow exits with the HardFault code",
        profile: &firmware::QEMU,
        bin: "stack-overflow",
        expected: Outcome::Exited(EXIT_HARD_FAULT),
        time_limit: CHECK_TIME_LIMIT,
    },
    Run {
        name: "bit identity with the host (parity)",
        profile: &firmware::QEMU,
        bin: "parity",
        expected: Outcome::Exited(0),
        time_limit: CHECK_TIME_LIMIT,
    },
    Run {
        name: "hung firmware is killed at the time limit",
        profile: &firmware::QEMU,
        bin: "hang",
        expected: Outcome::TimedOut,
        time_limit: Duration::from_secs(5),
    },
];

/// One line of a run's output: a decoded defmt frame, a line that QEMU printed on standard
/// error, or a decoding problem.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// The defmt level (`info`, `error`, …), `qemu` or `decoder`.
    pub source: String,
    pub message: String,
    /// Source file and line of the defmt call, relative to the repository when inside it.
    pub location: Option<String>,
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<7} {}", self.source.to_uppercase(), self.message)?;
        if let Some(location) = &self.location {
            write!(f, "  ({location})")?;
        }
        Ok(())
    }
}

impl LogLine {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "source": self.source,
            "message": self.message,
            "location": self.location,
        })
    }
}

/// Outcome and log of a QEMU run.
#[derive(Debug)]
pub struct Report {
    pub outcome: Outcome,
    pub duration: Duration,
    pub lines: Vec<LogLine>,
}

/// Returns the QEMU command for `elf`.
pub fn command(elf: &Path) -> Command {
    command_with_args(QEMU_ARGS, elf)
}

/// Returns the QEMU command for `elf` with the machine arguments `args`.
pub fn command_with_args(args: &[&str], elf: &Path) -> Command {
    let mut command = Command::new("qemu-system-arm");
    command.args(args).arg(elf);
    command
}

enum Event {
    Stdout(Vec<u8>),
    StdoutClosed,
    Stderr(String),
    StderrClosed,
}

/// Runs `elf` on QEMU until it exits or `time_limit` passes, when it kills QEMU. Calls
/// `on_line` for each line as it arrives.
pub fn run(elf: &Path, time_limit: Duration, on_line: &mut dyn FnMut(&LogLine)) -> Result<Report> {
    run_with_args(QEMU_ARGS, elf, time_limit, on_line)
}

/// Runs `elf` like [`run`], on the machine that the QEMU arguments `args` select.
pub fn run_with_args(
    args: &[&str],
    elf: &Path,
    time_limit: Duration,
    on_line: &mut dyn FnMut(&LogLine),
) -> Result<Report> {
    let image = std::fs::read(elf)
        .with_context(|| format!("failed to read the firmware image {}", elf.display()))?;
    let table = Table::parse(&image)
        .with_context(|| format!("failed to read the defmt table of {}", elf.display()))?
        .with_context(|| format!("{} contains no defmt table", elf.display()))?;
    // Without debug information the lines simply have no location.
    let locations = table.get_locations(&image).unwrap_or_default();

    let mut command = command_with_args(args, elf);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let deadline = start + time_limit;
    let mut child = command
        .spawn()
        .context("failed to start qemu-system-arm; run `cargo xtask setup` to install it")?;
    let events = spawn_readers(&mut child);

    let mut lines = Vec::new();
    let mut emit = |line: LogLine| {
        on_line(&line);
        lines.push(line);
    };
    let mut decoder = table.new_stream_decoder();
    let mut open_streams = 2;
    let mut decoding = true;

    while open_streams > 0 {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let event = match events.recv_timeout(remaining) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => break,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        match event {
            Event::Stdout(bytes) if decoding => {
                decoder.received(&bytes);
                decoding = decode_frames(&mut *decoder, &table, &locations, &mut emit);
            }
            Event::Stdout(_) => {}
            Event::Stderr(text) => emit(LogLine {
                source: "qemu".into(),
                message: text,
                location: None,
            }),
            Event::StdoutClosed | Event::StderrClosed => open_streams -= 1,
        }
    }

    let outcome = wait(&mut child, deadline)?;
    Ok(Report {
        outcome,
        duration: start.elapsed(),
        lines,
    })
}

/// Starts one thread per output stream of `child`, which send what they read to the channel.
fn spawn_readers(child: &mut Child) -> mpsc::Receiver<Event> {
    let (sender, receiver) = mpsc::channel();

    let mut stdout = child.stdout.take().expect("stdout is piped");
    let stdout_sender = sender.clone();
    thread::spawn(move || {
        let mut buffer = [0; 4096];
        while let Ok(count @ 1..) = stdout.read(&mut buffer) {
            if stdout_sender
                .send(Event::Stdout(buffer[..count].to_vec()))
                .is_err()
            {
                return;
            }
        }
        let _ = stdout_sender.send(Event::StdoutClosed);
    });

    let stderr = child.stderr.take().expect("stderr is piped");
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if sender.send(Event::Stderr(line)).is_err() {
                return;
            }
        }
        let _ = sender.send(Event::StderrClosed);
    });

    receiver
}

/// Emits every complete frame in `decoder`. Returns `false` when the stream is corrupt and the
/// encoding cannot find the next frame, so decoding must stop.
fn decode_frames(
    decoder: &mut dyn defmt_decoder::StreamDecoder,
    table: &Table,
    locations: &Locations,
    emit: &mut dyn FnMut(LogLine),
) -> bool {
    loop {
        match decoder.decode() {
            Ok(frame) => emit(LogLine {
                source: frame
                    .level()
                    .map_or("print", |level| level.as_str())
                    .to_string(),
                message: frame.display_message().to_string(),
                location: locations.get(&frame.index()).map(|location| {
                    let file = location
                        .file
                        .strip_prefix(repo_root())
                        .unwrap_or(&location.file);
                    format!("{}:{}", file.display(), location.line)
                }),
            }),
            Err(DecodeError::UnexpectedEof) => return true,
            Err(DecodeError::Malformed) => {
                let recoverable = table.encoding().can_recover();
                emit(LogLine {
                    source: "decoder".into(),
                    message: if recoverable {
                        "skipped a malformed defmt frame".into()
                    } else {
                        "malformed defmt frame; the rest of the log is not decoded".into()
                    },
                    location: None,
                });
                if !recoverable {
                    return false;
                }
            }
        }
    }
}

/// Waits for QEMU to exit, killing it at `deadline`.
fn wait(child: &mut Child, deadline: Instant) -> Result<Outcome> {
    use std::os::unix::process::ExitStatusExt;

    loop {
        if let Some(status) = child.try_wait().context("failed to wait for QEMU")? {
            return Ok(match (status.code(), status.signal()) {
                (Some(code), _) => Outcome::Exited(code),
                (None, Some(signal)) => Outcome::Signaled(signal),
                (None, None) => bail!("QEMU ended with an unknown status: {status}"),
            });
        }
        if Instant::now() >= deadline {
            // Errors are ignored because QEMU may have exited since `try_wait`.
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Outcome::TimedOut);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_check_accepts_expected_outcome() {
        assert!(DEMO.check(Outcome::Exited(0), DEMO_TIME_LIMIT).is_ok());
    }

    #[test]
    fn run_check_names_run_on_timeout() {
        let error = DEMO.check(Outcome::TimedOut, DEMO_TIME_LIMIT).unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("`demo` timed out after 300 s"),
            "{message}"
        );
        assert!(message.contains("expected exit status 0"), "{message}");
    }

    #[test]
    fn run_check_rejects_wrong_exit_status() {
        let error = DEMO
            .check(Outcome::Exited(101), DEMO_TIME_LIMIT)
            .unwrap_err();
        assert!(
            error.to_string().contains("ended with exit status 101"),
            "{error}"
        );
    }

    #[test]
    fn time_limit_option_replaces_default() {
        let limit = Duration::from_secs(7);
        assert_eq!(DEMO.time_limit(Some(limit)), limit);
        assert_eq!(DEMO.time_limit(None), DEMO_TIME_LIMIT);
    }

    #[test]
    fn time_limit_option_keeps_timeout_runs() {
        let hang = RUNS
            .iter()
            .find(|run| run.expected == Outcome::TimedOut)
            .expect("a run that expects a timeout");
        assert_eq!(
            hang.time_limit(Some(Duration::from_secs(600))),
            hang.time_limit
        );
    }

    #[test]
    fn run_names_are_unique() {
        for (i, run) in RUNS.iter().enumerate() {
            assert!(
                RUNS[i + 1..].iter().all(|other| other.name != run.name),
                "duplicate run name `{}`",
                run.name
            );
        }
    }

    #[test]
    fn log_line_shows_level_and_location() {
        let line = LogLine {
            source: "info".into(),
            message: "booted".into(),
            location: Some("firmware/src/main.rs:14".into()),
        };
        assert_eq!(
            line.to_string(),
            "INFO    booted  (firmware/src/main.rs:14)"
        );
    }
}
