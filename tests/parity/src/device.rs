//! Logs the cases' results with defmt, in the line format that `cargo xtask test` parses
//! (`xtask/src/parity.rs`). Fields are separated by `|`, because tensor names contain spaces:
//!
//! - `parity tensor|{case}|{tensor}|{count}|{digest}`: one tensor's value count and digest;
//! - `parity values|{case}|{tensor}|{offset}|[{bits}, …]`: up to [`CHUNK`] values from
//!   `offset` on, as `f32::to_bits` patterns, only for cases of at most [`MAX_PRINTED_VALUES`]
//!   values;
//! - `parity case|{case}|{count}|{digest}`: the whole case;
//! - `parity done|{cases}`: the number of cases reported.
//!
//! The PyTorch golden checks of [`crate::golden`] log:
//!
//! - `golden mismatch|{case}|{tensor}|{index}|…`: a value outside its tolerance (at most
//!   [`MAX_LOGGED_MISMATCHES`] per case);
//! - `golden case|{case}|{compared}|{mismatches}|…`: one case, with its largest differences;
//! - `golden done|{passed}|{failed}`: the number of cases that passed and failed.

use gradwell::Sqrt;

use crate::golden::{self, Mismatch};
use crate::{weather, Case, Digest, Sink};

/// Most mismatches logged for one golden case; the count covers them all.
pub const MAX_LOGGED_MISMATCHES: u32 = 5;

/// Largest case, in values, whose values are logged in full.
pub const MAX_PRINTED_VALUES: u32 = 512;

/// Values per `parity values` line.
pub const CHUNK: usize = 16;

/// Runs every case in `cases` and logs its results. Returns the number of cases reported.
pub fn report_cases(cases: &[Case]) -> u32 {
    for case in cases {
        // A first pass counts the values, because only small cases log them in full.
        let mut total = Digest::new();
        (case.run)(&mut |_: &str, values: &[f32]| total.update(values));
        let print_values = total.count() <= MAX_PRINTED_VALUES;
        report(case.name, print_values, &mut |sink| (case.run)(sink));
    }
    cases.len() as u32
}

/// Runs the weather case in `state` and logs its digests under the case name `name`; it is too
/// large to log in full.
pub fn report_weather<S: Sqrt>(name: &str, state: &mut weather::WeatherRun<S>) -> u32 {
    report(name, false, &mut |sink| weather::run(state, sink));
    1
}

/// Logs the closing line with the number of cases reported.
pub fn finish(cases: u32) {
    defmt::info!("parity done|{=u32}", cases);
}

fn report(case: &str, print_values: bool, run: &mut dyn FnMut(&mut dyn Sink)) {
    let mut total = Digest::new();
    run(&mut |tensor: &str, values: &[f32]| {
        total.update(values);
        let mut digest = Digest::new();
        digest.update(values);
        defmt::info!(
            "parity tensor|{=str}|{=str}|{=u32}|{=u64}",
            case,
            tensor,
            digest.count(),
            digest.hash()
        );
        if print_values {
            log_values(case, tensor, values);
        }
    });
    defmt::info!(
        "parity case|{=str}|{=u32}|{=u64}",
        case,
        total.count(),
        total.hash()
    );
}

fn log_values(case: &str, tensor: &str, values: &[f32]) {
    for (index, chunk) in values.chunks(CHUNK).enumerate() {
        let mut bits = [0u32; CHUNK];
        for (bit, value) in bits.iter_mut().zip(chunk) {
            *bit = value.to_bits();
        }
        defmt::info!(
            "parity values|{=str}|{=str}|{=usize}|{=[?]}",
            case,
            tensor,
            index * CHUNK,
            &bits[..chunk.len()]
        );
    }
}

/// Runs every PyTorch golden check and logs its outcome. Returns the number of cases that
/// failed.
pub fn report_golden() -> u32 {
    let mut failed = 0;
    for check in golden::CASES {
        let case = check.case();
        let mut logged = 0;
        let outcome = (check.run)(case, &mut |mismatch: &Mismatch<'_>| {
            if logged < MAX_LOGGED_MISMATCHES {
                defmt::error!(
                    "golden mismatch|{=str}|{=str}|{=usize}|expected {=f32}, actual {=f32}, allowed difference {=f32}",
                    case.name,
                    mismatch.tensor,
                    mismatch.index,
                    mismatch.expected,
                    mismatch.actual,
                    mismatch.allowed
                );
                logged += 1;
            }
        });
        defmt::info!(
            "golden case|{=str}|{=u32}|{=u32}|max difference: forward {=f32}, gradient {=f32}, running statistic {=f32}",
            case.name,
            outcome.compared,
            outcome.mismatches,
            outcome.max_forward_difference,
            outcome.max_gradient_difference,
            outcome.max_running_stat_difference
        );
        if outcome.mismatches > 0 {
            failed += 1;
        }
    }
    let total = golden::CASES.len() as u32;
    defmt::info!("golden done|{=u32}|{=u32}", total - failed, failed);
    failed
}
