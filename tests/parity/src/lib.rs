//! Cases that must give the same bits on the desktop and on the device.
//!
//! IEEE-754 single precision rounds every operation the same way on every target. gradwell
//! computes with `libm`, sums in a fixed order and never fuses a multiply and an add. So a
//! model trained from the same seed on the same data must end with the same bits everywhere. Each case
//! here builds a model from a fixed seed, runs a forward and backward pass or several training
//! steps on data drawn from [`gradwell::Rng`], and hands every resulting `f32` (outputs, input
//! gradients, parameter gradients, parameters, running statistics, optimizer state, step
//! reports) to a [`Sink`] as named tensors, in a fixed order.
//!
//! The firmware binaries `parity` (Cortex-M4F) and `parity-m0` (Cortex-M0) run the cases and
//! log a [`Digest`] of each tensor; `cargo xtask test` runs the same cases natively and
//! compares. See `docs/bit-identity.md`.
#![no_std]
#![forbid(unsafe_code)]

mod cases;
#[cfg(feature = "defmt")]
pub mod device;
mod digest;
pub mod golden;
mod run;
pub mod weather;

pub use cases::CASES;
pub use digest::Digest;

/// Receives a case's results, one named tensor at a time.
pub trait Sink {
    /// Receives the tensor `name` with its values in row-major order.
    fn tensor(&mut self, name: &str, values: &[f32]);
}

impl<F: FnMut(&str, &[f32])> Sink for F {
    fn tensor(&mut self, name: &str, values: &[f32]) {
        self(name, values)
    }
}

/// One case that fits a small stack: its name and the function that runs it.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// Name in reports, such as `dense_relu`.
    pub name: &'static str,
    /// Runs the case and hands every result to the sink.
    pub run: fn(&mut dyn Sink),
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::{String, ToString};
    use std::vec::Vec;

    use super::*;

    /// Returns every tensor of a run as (name, bits).
    fn collect(run: impl FnOnce(&mut dyn Sink)) -> Vec<(String, Vec<u32>)> {
        let mut tensors = Vec::new();
        run(&mut |name: &str, values: &[f32]| {
            tensors.push((
                name.to_string(),
                values.iter().map(|v| v.to_bits()).collect(),
            ))
        });
        tensors
    }

    #[test]
    fn case_names_are_unique() {
        for (i, case) in CASES.iter().enumerate() {
            assert!(
                CASES[i + 1..].iter().all(|other| other.name != case.name),
                "duplicate case name {}",
                case.name
            );
            assert_ne!(
                case.name,
                weather::NAME,
                "a case takes the weather case's name"
            );
        }
    }

    #[test]
    fn cases_are_deterministic() {
        for case in CASES {
            assert_eq!(collect(case.run), collect(case.run), "case {}", case.name);
        }
    }

    #[test]
    fn cases_produce_finite_nonzero_values() {
        for case in CASES {
            let tensors = collect(case.run);
            assert!(
                !tensors.is_empty(),
                "case {} produced no tensors",
                case.name
            );
            let values: Vec<f32> = tensors
                .iter()
                .flat_map(|(_, bits)| bits.iter().map(|&b| f32::from_bits(b)))
                .collect();
            assert!(
                values.iter().all(|v| v.is_finite()),
                "case {} produced a non-finite value",
                case.name
            );
            assert!(
                values.iter().any(|&v| v != 0.0),
                "case {} produced only zeros",
                case.name
            );
        }
    }

    #[test]
    fn weather_run_restarts_from_its_seed() {
        let mut state: std::boxed::Box<weather::WeatherRun> = std::boxed::Box::default();
        let first = collect(|sink| weather::run(&mut state, sink));
        let second = collect(|sink| weather::run(&mut state, sink));
        assert_eq!(first, second);
        let loss = |tensors: &[(String, Vec<u32>)], step: usize| {
            let name = std::format!("step {step}.loss, norms, lr");
            let (_, bits) = tensors
                .iter()
                .find(|(n, _)| *n == name)
                .expect("step report");
            f32::from_bits(bits[0])
        };
        assert!(
            loss(&first, weather::STEPS - 1) < loss(&first, 0),
            "the weather model's loss did not fall in {} steps",
            weather::STEPS
        );
    }
}
