//! Replays a golden training run with gradwell's `Trainer` and compares it with the framework's.
//!
//! The golden files in `golden/training/` come from `generate.py` (PyTorch) and
//! `generate_keras.py` (Keras). A run contains its initial tensors, the tensors every 10 steps
//! and each step's task losses and gradient norm. `batches.json` contains the scaled batches
//! that all runs train on. [`replay`] loads the initial tensors by name, trains step by step on the same
//! batches and checks every recorded value against a [`Tolerance`].

use std::collections::BTreeMap;
use std::fmt::Write as _;

use gradwell::{Layer, Objective, Optimizer, Trainer};
use serde::Deserialize;

/// Samples in one batch.
pub const BATCH: usize = 32;

const BATCHES_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/training/batches.json");

/// Mismatches listed in a failure message, at most.
const MAX_LISTED: usize = 20;

/// Allowed difference between a gradwell value and the framework's:
/// `|actual − expected| ≤ absolute + relative · |expected|`.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    /// Allowed difference for values near zero.
    pub absolute: f32,
    /// Allowed difference per unit of the expected value's magnitude.
    pub relative: f32,
}

impl Tolerance {
    /// Returns `|actual − expected| / (absolute + relative · |expected|)`, which is at most 1
    /// for a value within the tolerance. NaN against a number counts as infinitely far.
    fn ratio(&self, expected: f32, actual: f32) -> f64 {
        let difference = (f64::from(actual) - f64::from(expected)).abs();
        if difference.is_nan() {
            return f64::INFINITY;
        }
        let allowed =
            f64::from(self.absolute) + f64::from(self.relative) * f64::from(expected).abs();
        difference / allowed
    }
}

/// The tolerances of one run, each for one kind of recorded value.
#[derive(Clone, Copy, Debug)]
pub struct Tolerances {
    /// Parameters in the snapshots.
    pub parameters: Tolerance,
    /// Batch-norm running statistics in the snapshots.
    pub buffers: Tolerance,
    /// Each step's task losses.
    pub losses: Tolerance,
    /// Each step's global gradient norm before clipping.
    pub grad_norms: Tolerance,
}

/// The scaled batches that every run trains on.
#[derive(Deserialize)]
pub struct Batches {
    /// `[step][sample]`, ten z-scored inputs each.
    pub inputs: Vec<Vec<[f32; 10]>>,
    /// `[step][sample]`: tomorrow's z-scored temp_max and temp_min.
    pub targets: Vec<Vec<[f32; 2]>>,
}

/// A golden file. Only the runs are read, and the version fields are for people.
#[derive(Deserialize)]
pub struct GoldenFile {
    /// The runs, by name.
    pub runs: Vec<Run>,
}

/// One training run recorded by the framework.
#[derive(Deserialize)]
pub struct Run {
    /// Name of the run, for messages.
    pub name: String,
    /// The framework's model, optimizer and loss, for messages.
    pub description: String,
    /// Number of steps trained.
    pub steps: usize,
    /// Parameters and buffers before the first step, by gradwell name, flattened row-major.
    pub initial: BTreeMap<String, Vec<f32>>,
    /// Parameters and buffers after some of the steps.
    pub snapshots: Vec<Snapshot>,
    /// `[step][task]`: each step's mean loss per task.
    pub task_losses: Vec<Vec<f32>>,
    /// Each step's global L2 gradient norm before clipping.
    pub grad_norms: Vec<f32>,
}

/// Parameters and buffers after `step` steps.
#[derive(Deserialize)]
pub struct Snapshot {
    /// Number of steps trained, counting from 1.
    pub step: usize,
    /// Every tensor by gradwell name, flattened row-major.
    pub tensors: BTreeMap<String, Vec<f32>>,
}

/// The largest difference seen for one kind of value, and where.
#[derive(Clone, Debug, Default)]
pub struct Largest {
    /// Largest `|actual − expected|`.
    pub absolute: f64,
    /// Where it was seen.
    pub absolute_at: String,
    /// Largest ratio of the difference to the allowed difference.
    pub ratio: f64,
    /// Where it was seen.
    pub ratio_at: String,
}

impl Largest {
    fn record(&mut self, place: &dyn Fn() -> String, expected: f32, actual: f32, ratio: f64) {
        let absolute = (f64::from(actual) - f64::from(expected)).abs();
        if absolute > self.absolute {
            self.absolute = absolute;
            self.absolute_at = place();
        }
        if ratio > self.ratio {
            self.ratio = ratio;
            self.ratio_at = place();
        }
    }
}

/// What a replay found: the largest differences per kind of value, and every mismatch.
#[derive(Debug, Default)]
pub struct Report {
    /// Parameters in the snapshots.
    pub parameters: Largest,
    /// Batch-norm running statistics in the snapshots.
    pub buffers: Largest,
    /// Task losses.
    pub losses: Largest,
    /// Gradient norms before clipping.
    pub grad_norms: Largest,
    /// Largest parameter or buffer `|actual − expected|` of each snapshot, by step, to show how
    /// the difference grows.
    pub per_snapshot: Vec<(usize, f64)>,
    /// Number of values outside their tolerance.
    pub mismatches: usize,
    /// The first mismatches, one line each.
    pub listed: String,
}

impl Report {
    fn check(
        &mut self,
        kind: Kind,
        tolerance: Tolerance,
        place: &dyn Fn() -> String,
        expected: f32,
        actual: f32,
    ) {
        let ratio = tolerance.ratio(expected, actual);
        let largest = match kind {
            Kind::Parameter => &mut self.parameters,
            Kind::Buffer => &mut self.buffers,
            Kind::Loss => &mut self.losses,
            Kind::GradNorm => &mut self.grad_norms,
        };
        largest.record(place, expected, actual, ratio);
        if ratio <= 1.0 {
            return;
        }
        self.mismatches += 1;
        if self.mismatches <= MAX_LISTED {
            let _ = writeln!(
                self.listed,
                "  {}: expected {expected:e}, actual {actual:e}, difference {:e} ({ratio:.1} × tolerance {tolerance:?})",
                place(),
                f64::from(actual) - f64::from(expected)
            );
        }
    }

    /// Returns one line per kind of value with its largest differences.
    pub fn summary(&self) -> String {
        let mut text = String::new();
        for (kind, largest) in [
            ("parameters", &self.parameters),
            ("buffers", &self.buffers),
            ("task losses", &self.losses),
            ("gradient norms", &self.grad_norms),
        ] {
            let _ = writeln!(
                text,
                "  {kind}: max |difference| {:.3e} at {}; max difference/tolerance {:.3} at {}",
                largest.absolute, largest.absolute_at, largest.ratio, largest.ratio_at
            );
        }
        let growth: Vec<String> = self
            .per_snapshot
            .iter()
            .map(|(step, d)| format!("{step}: {d:.1e}"))
            .collect();
        let _ = writeln!(
            text,
            "  max |difference| of the tensors by step: {}",
            growth.join(", ")
        );
        text
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Parameter,
    Buffer,
    Loss,
    GradNorm,
}

/// Reads and parses a golden JSON file, naming the command that regenerates it on failure.
pub fn read_golden<T: for<'de> Deserialize<'de>>(path: &str, regenerate: &str) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!("failed to read {path}: {e}; regenerate it with `{regenerate}`")
    });
    serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!("invalid golden file {path}: {e}; regenerate it with `{regenerate}`")
    })
}

/// Reads `batches.json`.
pub fn batches() -> Batches {
    let batches: Batches = read_golden(BATCHES_PATH, "python3 tests/golden/training/generate.py");
    for (step, (inputs, targets)) in batches.inputs.iter().zip(&batches.targets).enumerate() {
        assert_eq!(
            inputs.len(),
            BATCH,
            "batch {step} has {} input rows, expected {BATCH}",
            inputs.len()
        );
        assert_eq!(
            targets.len(),
            BATCH,
            "batch {step} has {} target rows, expected {BATCH}",
            targets.len()
        );
    }
    batches
}

/// Returns the run called `name` from `golden`.
pub fn find_run<'a>(golden: &'a GoldenFile, name: &str) -> &'a Run {
    golden
        .runs
        .iter()
        .find(|run| run.name == name)
        .unwrap_or_else(|| panic!("run {name} not found in the golden file"))
}

/// Overwrites every tensor of `model` with the golden tensor of the same name.
///
/// # Panics
/// When a tensor of the model is missing from `tensors`, has another length, or when `tensors`
/// contains a name the model does not have.
pub fn load_tensors<M: Layer>(run: &str, model: &mut M, tensors: &BTreeMap<String, Vec<f32>>) {
    let mut loaded = Vec::new();
    model.visit_tensors_mut("", 0, &mut |info, values| {
        let golden = tensors.get(info.name).unwrap_or_else(|| {
            panic!(
                "{run}: tensor {} is missing from the golden file",
                info.name
            )
        });
        assert_eq!(
            golden.len(),
            values.len(),
            "{run}: tensor {} has {} golden values, the model stores {} (shape {:?})",
            info.name,
            golden.len(),
            values.len(),
            info.shape
        );
        values.copy_from_slice(golden);
        loaded.push(info.name.to_string());
    });
    for name in tensors.keys() {
        assert!(
            loaded.contains(name),
            "{run}: golden tensor {name} is not a tensor of the model"
        );
    }
}

/// Trains `model` with `trainer` on the run's batches, starting from the run's initial
/// tensors, and checks the task losses and gradient norms of every step and the tensors of
/// every snapshot. `targets` turns one sample's two golden targets into the objective's.
///
/// # Panics
/// When the golden file does not fit the model, or when a step is rejected.
pub fn replay<M, O, J>(
    run: &Run,
    batches: &Batches,
    model: &mut M,
    trainer: &mut Trainer<M, O, BATCH>,
    objective: &J,
    targets: impl Fn(&[f32; 2]) -> J::Target,
    tolerances: &Tolerances,
) -> Report
where
    M: Layer<Input = [f32; 10]>,
    O: Optimizer,
    J: Objective<M::Output>,
{
    assert!(
        batches.inputs.len() >= run.steps,
        "{}: {} steps need {} batches, batches.json has {}",
        run.name,
        run.steps,
        run.steps,
        batches.inputs.len()
    );
    assert_eq!(
        run.task_losses.len(),
        run.steps,
        "{}: one task-loss row per step expected",
        run.name
    );
    assert_eq!(
        run.grad_norms.len(),
        run.steps,
        "{}: one gradient norm per step expected",
        run.name
    );
    assert!(
        !run.snapshots.is_empty(),
        "{}: the golden run has no snapshots",
        run.name
    );

    load_tensors(&run.name, model, &run.initial);
    let mut report = Report::default();
    let mut snapshots = run.snapshots.iter().peekable();

    for step in 0..run.steps {
        let x: [[f32; 10]; BATCH] = batches.inputs[step]
            .as_slice()
            .try_into()
            .expect("batches.json rows are checked on load");
        let t: [J::Target; BATCH] = core::array::from_fn(|i| targets(&batches.targets[step][i]));
        let step_report = trainer
            .step(model, &x, &t, objective)
            .unwrap_or_else(|e| panic!("{}: step {} was rejected: {e}", run.name, step + 1));

        let expected_losses = &run.task_losses[step];
        assert_eq!(
            step_report.task_losses.len(),
            expected_losses.len(),
            "{}: the objective has {} tasks, the golden run {}",
            run.name,
            step_report.task_losses.len(),
            expected_losses.len()
        );
        for (task, (&expected, &actual)) in expected_losses
            .iter()
            .zip(&step_report.task_losses)
            .enumerate()
        {
            let place = || format!("{} step {} loss of task {task}", run.name, step + 1);
            report.check(Kind::Loss, tolerances.losses, &place, expected, actual);
        }
        let place = || format!("{} step {} gradient norm", run.name, step + 1);
        report.check(
            Kind::GradNorm,
            tolerances.grad_norms,
            &place,
            run.grad_norms[step],
            step_report.grad_norm,
        );

        if snapshots.peek().is_some_and(|s| s.step == step + 1) {
            let snapshot = snapshots.next().expect("peeked");
            compare_tensors(&run.name, snapshot, model, tolerances, &mut report);
        }
    }
    assert!(
        snapshots.next().is_none(),
        "{}: a snapshot is past the last step {} or out of order",
        run.name,
        run.steps
    );
    report
}

fn compare_tensors<M: Layer>(
    run: &str,
    snapshot: &Snapshot,
    model: &M,
    tolerances: &Tolerances,
    report: &mut Report,
) {
    let mut seen = 0;
    let mut largest = 0.0f64;
    model.visit_tensors("", 0, &mut |info, values| {
        let expected = snapshot.tensors.get(info.name).unwrap_or_else(|| {
            panic!(
                "{run}: tensor {} is missing from the snapshot of step {}",
                info.name, snapshot.step
            )
        });
        assert_eq!(
            expected.len(),
            values.len(),
            "{run}: tensor {} changed length",
            info.name
        );
        let (kind, tolerance) = match info.kind {
            gradwell::TensorKind::Parameter => (Kind::Parameter, tolerances.parameters),
            gradwell::TensorKind::Buffer => (Kind::Buffer, tolerances.buffers),
        };
        for (index, (&e, &a)) in expected.iter().zip(values).enumerate() {
            let place = || format!("{run} step {} {}[{index}]", snapshot.step, info.name);
            report.check(kind, tolerance, &place, e, a);
            largest = largest.max((f64::from(a) - f64::from(e)).abs());
        }
        seen += 1;
    });
    report.per_snapshot.push((snapshot.step, largest));
    assert_eq!(
        seen,
        snapshot.tensors.len(),
        "{run}: the snapshot of step {} has other tensors than the model",
        snapshot.step
    );
}

/// Prints the report and fails with the listed mismatches, if any.
pub fn assert_matches(run: &Run, report: &Report) {
    println!("{} ({}):\n{}", run.name, run.description, report.summary());
    assert!(
        report.mismatches == 0,
        "{}: {} values differ from the golden run by more than their tolerance; the first {}:\n{}largest differences:\n{}",
        run.name,
        report.mismatches,
        report.mismatches.min(MAX_LISTED),
        report.listed,
        report.summary()
    );
}
