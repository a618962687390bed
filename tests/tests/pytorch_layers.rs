//! Parity with PyTorch on literal weights: forward values, input gradients, parameter gradients
//! and batch-norm running statistics.
//!
//! `golden/layers/generate.py` runs each layer in PyTorch and writes `golden/layers/layers.json`
//! (see `golden/README.md`). Each test here names the gradwell type that matches one case's
//! PyTorch module and loads the parameters by their `state_dict` names. It then runs one
//! training forward pass, one backward pass with the case's upstream gradient and one commit,
//! and compares every result with PyTorch's. The tolerances live in `gradwell_parity::golden`,
//! whose checks run the same golden file on the firmware.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use gradwell::{
    seq, BatchNorm, Dense, Frozen, Layer, LeakyRelu, Mode, MultiTask, Relu, Residual, Sigmoid,
    Skip, Tanh, TensorKind, Tensors, Zeroed,
};
use gradwell_parity::golden::{
    Heads, Tolerance, FORWARD_TOLERANCE, GRADIENT_TOLERANCE, RUNNING_STAT_TOLERANCE,
};
use serde::Deserialize;
use serde_json::Value;

/// Gradients that are zero in exact arithmetic, so the golden file holds only PyTorch's rounding
/// noise: a bias followed by batch normalisation in training mode shifts every sample of the
/// batch equally, and subtracting the batch mean removes the shift.
const ZERO_GRADIENTS: &[(&str, &str)] = &[("dense_batch_norm_chain_train", "0.bias")];

const GOLDEN_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/layers/layers.json");
const REGENERATE: &str = "python3 tests/golden/layers/generate.py";

/// The golden file: the cases and the torch version that computed them.
#[derive(Deserialize)]
struct GoldenFile {
    torch_version: String,
    cases: Vec<Case>,
}

/// One layer run through one training step in PyTorch. Arrays are nested JSON lists:
/// `[sample][feature]`, or `[sample][head][feature]` for a multi-task output.
#[derive(Deserialize)]
struct Case {
    name: String,
    /// The PyTorch module, for messages.
    layer: String,
    batch: usize,
    /// `"train"` or `"eval"`.
    mode: String,
    x: Value,
    /// Parameters and buffers before the step, by `state_dict` name.
    parameters: BTreeMap<String, Value>,
    dy: Value,
    y: Value,
    dx: Value,
    /// Gradients of the trainable parameters, by `state_dict` name.
    grads: BTreeMap<String, Value>,
    /// Buffers (batch-norm running statistics) after the step.
    buffers_after: BTreeMap<String, Value>,
}

fn golden() -> &'static GoldenFile {
    static GOLDEN: OnceLock<GoldenFile> = OnceLock::new();
    GOLDEN.get_or_init(|| {
        let text = std::fs::read_to_string(GOLDEN_PATH).unwrap_or_else(|e| {
            panic!("failed to read {GOLDEN_PATH}: {e}. Regenerate it with `{REGENERATE}`")
        });
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("invalid golden file {GOLDEN_PATH}: {e}"))
    })
}

fn find_case(name: &str) -> &'static Case {
    golden()
        .cases
        .iter()
        .find(|case| case.name == name)
        .unwrap_or_else(|| {
            panic!("case {name} not found in {GOLDEN_PATH}. Regenerate it with `{REGENERATE}`")
        })
}

/// Returns the numbers of a nested JSON array in row-major order.
fn flatten(value: &Value) -> Vec<f32> {
    let mut values = Vec::new();
    flatten_into(value, &mut values);
    values
}

fn flatten_into(value: &Value, values: &mut Vec<f32>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten_into(item, values)),
        // The generator writes each float32 as the shortest decimal that rounds back to it
        // through a float64, so this cast restores PyTorch's exact value.
        Value::Number(number) => {
            values.push(number.as_f64().expect("golden number does not fit an f64") as f32)
        }
        other => panic!("golden array contains {other}, expected only numbers"),
    }
}

/// Returns the shape of a nested JSON array, taking the first item at each level.
fn shape(value: &Value) -> Vec<usize> {
    let mut shape = Vec::new();
    let mut level = value;
    while let Value::Array(items) = level {
        shape.push(items.len());
        match items.first() {
            Some(first) => level = first,
            None => break,
        }
    }
    shape
}

/// Returns the nested index, such as `[2][0][1]`, of the `flat`-th number of a JSON array.
fn nested_index(value: &Value, flat: usize) -> String {
    let mut index = String::new();
    let mut remaining = flat;
    let mut level = value;
    while let Value::Array(items) = level {
        let mut found = None;
        for (i, item) in items.iter().enumerate() {
            let count = flatten(item).len();
            if remaining < count {
                found = Some((i, item));
                break;
            }
            remaining -= count;
        }
        let Some((i, item)) = found else { break };
        index.push_str(&format!("[{i}]"));
        level = item;
    }
    index
}

/// Builds a value of type `T` (a batch of inputs or outputs) from a golden array.
fn from_golden<T: Tensors>(case: &Case, field: &str, value: &Value) -> T {
    let values = flatten(value);
    assert_eq!(
        values.len(),
        T::LEN,
        "{}: `{field}` has {} values, the model type needs {}",
        case.name,
        values.len(),
        T::LEN
    );
    let mut tensors = T::zeroed();
    let mut next = 0;
    tensors.for_each_mut(&mut |slice| {
        slice.copy_from_slice(&values[next..next + slice.len()]);
        next += slice.len();
    });
    tensors
}

fn filled_with_nan<T: Tensors>() -> T {
    let mut tensors = T::zeroed();
    tensors.for_each_mut(&mut |slice| slice.fill(f32::NAN));
    tensors
}

/// Returns every number of `tensors` in visiting order.
fn values_of<T: Tensors>(tensors: &T) -> Vec<f32> {
    let mut values = Vec::with_capacity(T::LEN);
    tensors.for_each(&mut |slice| values.extend_from_slice(slice));
    values
}

/// Sets every parameter and buffer of `model` from the case, by name and shape.
///
/// # Panics
/// When a model tensor has no golden value, a golden tensor has no model tensor, or the shapes
/// differ: any of these means the gradwell type does not match the PyTorch module.
fn load_parameters<L: Layer>(model: &mut L, case: &Case) {
    let mut loaded = BTreeSet::new();
    model.visit_tensors_mut("", 0, &mut |info, values| {
        let golden = case.parameters.get(info.name).unwrap_or_else(|| {
            panic!(
                "{}: model tensor {} is missing from the golden parameters",
                case.name, info.name
            )
        });
        assert_eq!(
            shape(golden),
            info.shape,
            "{}: shape of {} differs from PyTorch's",
            case.name,
            info.name
        );
        values.copy_from_slice(&flatten(golden));
        loaded.insert(info.name.to_owned());
    });
    for name in case.parameters.keys() {
        assert!(
            loaded.contains(name),
            "{}: golden parameter {name} has no tensor in the model type",
            case.name
        );
    }
}

/// Returns the gradient of each trainable tensor by name.
///
/// [`Layer::visit_trainable`] hands out the parameter slice beside its gradient, and
/// [`Layer::visit_tensors`] the same slice beside its name, so the slice's address pairs them.
fn named_gradients<L: Layer>(model: &mut L, grads: &L::Grads) -> BTreeMap<String, Vec<f32>> {
    let mut names = BTreeMap::new();
    model.visit_tensors("", 0, &mut |info, values| {
        if info.kind == TensorKind::Parameter {
            names.insert(values.as_ptr() as usize, info.name.to_owned());
        }
    });
    let mut gradients = BTreeMap::new();
    model.visit_trainable::<0>(grads, [], &mut |parameter, gradient, _| {
        let name = names
            .get(&(parameter.as_ptr() as usize))
            .unwrap_or_else(|| {
                panic!(
                    "trainable tensor of {} values is not a parameter in visit_tensors",
                    parameter.len()
                )
            });
        assert_eq!(
            gradient.len(),
            parameter.len(),
            "gradient of {name} has the wrong length"
        );
        gradients.insert(name.clone(), gradient.to_vec());
    });
    gradients
}

/// A buffer (batch-norm running statistic) of a model.
struct Buffer {
    values: Vec<f32>,
    /// `true` inside a `Frozen` part, where a training step leaves the buffer alone.
    frozen: bool,
}

/// Returns every buffer of `model` by name.
fn named_buffers<L: Layer>(model: &L) -> BTreeMap<String, Buffer> {
    let mut buffers = BTreeMap::new();
    model.visit_tensors("", 0, &mut |info, values| {
        if info.kind == TensorKind::Buffer {
            buffers.insert(
                info.name.to_owned(),
                Buffer {
                    values: values.to_vec(),
                    frozen: info.frozen,
                },
            );
        }
    });
    buffers
}

/// Kinds of compared values, each with its own tolerance and reported maximum difference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Forward,
    Gradient,
    RunningStat,
}

impl Group {
    fn tolerance(self) -> Tolerance {
        match self {
            Group::Forward => FORWARD_TOLERANCE,
            Group::Gradient => GRADIENT_TOLERANCE,
            Group::RunningStat => RUNNING_STAT_TOLERANCE,
        }
    }
}

/// Compares the values of one case and collects every mismatch.
struct Checker<'a> {
    case: &'a Case,
    mismatches: Vec<String>,
    /// Largest `|actual − expected|` per group.
    max_difference: BTreeMap<Group, f32>,
}

impl<'a> Checker<'a> {
    fn new(case: &'a Case) -> Self {
        Self {
            case,
            mismatches: Vec::new(),
            max_difference: BTreeMap::new(),
        }
    }

    fn compare(&mut self, group: Group, tensor: &str, expected: &Value, actual: &[f32]) {
        let expected_values = flatten(expected);
        assert_eq!(
            expected_values.len(),
            actual.len(),
            "{}: {tensor} has {} golden values, the model produced {}",
            self.case.name,
            expected_values.len(),
            actual.len()
        );
        let tolerance = group.tolerance();
        let max_difference = self.max_difference.entry(group).or_insert(0.0);
        for (i, (&e, &a)) in expected_values.iter().zip(actual).enumerate() {
            let difference = (a - e).abs();
            let allowed = tolerance.absolute + tolerance.relative * e.abs();
            // A NaN fails this check but does not raise the maximum.
            if difference.is_nan() || difference > allowed {
                self.mismatches.push(format!(
                    "{}: {tensor}{}: expected {e}, actual {a}, difference {difference:.3e} > allowed {allowed:.3e}",
                    self.case.name,
                    nested_index(expected, i)
                ));
            }
            if difference > *max_difference {
                *max_difference = difference;
            }
        }
    }

    /// Prints the largest differences and panics when any value was out of tolerance.
    fn finish(self) {
        let summary: Vec<String> = self
            .max_difference
            .iter()
            .map(|(group, difference)| format!("{group:?} {difference:.2e}"))
            .collect();
        println!(
            "{}: max |difference| {}",
            self.case.name,
            summary.join(", ")
        );
        assert!(
            self.mismatches.is_empty(),
            "{} ({}, torch {}): {} values differ from PyTorch:\n{}",
            self.case.name,
            self.case.layer,
            golden().torch_version,
            self.mismatches.len(),
            self.mismatches.join("\n")
        );
    }
}

/// Runs case `name` through the gradwell type `L` with a batch of `B` and compares the results
/// with PyTorch's.
fn check_golden<L, const B: usize>(name: &str)
where
    L: Layer + Zeroed,
    L::Input: Tensors,
    L::Output: Tensors,
{
    let case = find_case(name);
    assert_eq!(
        case.batch, B,
        "{name}: the golden batch has {} samples, the test runs {B}",
        case.batch
    );
    let mode = match case.mode.as_str() {
        "train" => Mode::Train,
        "eval" => Mode::Eval,
        other => panic!("{name}: invalid mode {other:?}, expected \"train\" or \"eval\""),
    };

    let mut model = L::zeroed();
    load_parameters(&mut model, case);

    let x: [L::Input; B] = from_golden(case, "x", &case.x);
    // Outputs start as NaN: forward and backward must overwrite every value, not add to it.
    let mut y = filled_with_nan::<[L::Output; B]>();
    let mut cache = <L as Layer>::Cache::<B>::zeroed();
    model
        .forward_train(&x, &mut y, &mut cache, mode)
        .unwrap_or_else(|e| panic!("{name}: forward_train failed: {e}"));

    let mut dy: [L::Output; B] = from_golden(case, "dy", &case.dy);
    let mut dx = filled_with_nan::<[L::Input; B]>();
    let mut grads = filled_with_nan::<L::Grads>();
    model.backward(&x, &y, &mut cache, &mut dy, Some(&mut dx), Some(&mut grads));
    model.commit::<B>(&cache);

    let mut checker = Checker::new(case);
    checker.compare(Group::Forward, "y", &case.y, &values_of(&y));
    checker.compare(Group::Gradient, "dx", &case.dx, &values_of(&dx));

    let gradients = named_gradients(&mut model, &grads);
    let gradient_names: Vec<&String> = gradients.keys().collect();
    let golden_gradient_names: Vec<&String> = case.grads.keys().collect();
    assert_eq!(
        gradient_names, golden_gradient_names,
        "{name}: trainable tensors differ from PyTorch's"
    );
    for (tensor, expected) in &case.grads {
        checker.compare(
            Group::Gradient,
            &format!("grad {tensor}"),
            expected,
            &gradients[tensor],
        );
    }

    let buffers = named_buffers(&model);
    let buffer_names: Vec<&String> = buffers.keys().collect();
    let golden_buffer_names: Vec<&String> = case.buffers_after.keys().collect();
    assert_eq!(
        buffer_names, golden_buffer_names,
        "{name}: buffers differ from PyTorch's"
    );
    for (tensor, expected) in &case.buffers_after {
        // Golden statistics that a training step leaves as they were could not catch a
        // missing commit, and ones that move in evaluation mode would be wrong.
        let moved = flatten(expected) != flatten(&case.parameters[tensor]);
        let should_move = mode == Mode::Train && !buffers[tensor].frozen;
        assert_eq!(
            moved, should_move,
            "{name}: golden {tensor} moved in the step: {moved}, expected {should_move}"
        );
        checker.compare(
            Group::RunningStat,
            tensor,
            expected,
            &buffers[tensor].values,
        );
    }

    checker.finish();
}

/// Declares one test per golden case, with the gradwell type and batch size that match the
/// case's PyTorch module, and lists the tested case names in `TESTED_CASES`.
macro_rules! golden_tests {
    ($($name:ident: $layer:ty, batch $batch:literal;)+) => {
        $(
            #[test]
            fn $name() {
                check_golden::<$layer, $batch>(stringify!($name));
            }
        )+

        const TESTED_CASES: &[&str] = &[$(stringify!($name)),+];
    };
}

gradwell_parity::golden_cases!(golden_tests);

#[test]
fn every_golden_case_has_test() {
    let golden_names: BTreeSet<&str> = golden()
        .cases
        .iter()
        .map(|case| case.name.as_str())
        .collect();
    let tested_names: BTreeSet<&str> = TESTED_CASES.iter().copied().collect();
    assert_eq!(golden_names, tested_names, "golden cases and tests differ");
    assert_eq!(
        golden_names.len(),
        golden().cases.len(),
        "golden case names are not unique"
    );
}

/// Guards against golden data that any implementation would match, such as all-zero outputs
/// that a layer returning zeros passes within the absolute tolerance.
#[test]
fn golden_values_exceed_tolerance() {
    for &(case_name, tensor) in ZERO_GRADIENTS {
        let gradient = find_case(case_name).grads.get(tensor).unwrap_or_else(|| {
            panic!("{case_name}: ZERO_GRADIENTS names {tensor}, which has no golden gradient")
        });
        let largest = flatten(gradient)
            .iter()
            .fold(0.0f32, |max, v| max.max(v.abs()));
        assert!(
            largest < GRADIENT_TOLERANCE.absolute,
            "{case_name}: gradient of {tensor} should be rounding noise, but reaches {largest}"
        );
    }

    for case in &golden().cases {
        let mut tensors: Vec<(String, &Value, Tolerance)> = vec![
            ("y".into(), &case.y, FORWARD_TOLERANCE),
            ("dx".into(), &case.dx, GRADIENT_TOLERANCE),
        ];
        for (name, value) in &case.grads {
            if !ZERO_GRADIENTS.contains(&(case.name.as_str(), name.as_str())) {
                tensors.push((format!("grad {name}"), value, GRADIENT_TOLERANCE));
            }
        }
        for (name, value, tolerance) in tensors {
            let largest = flatten(value)
                .iter()
                .fold(0.0f32, |max, v| max.max(v.abs()));
            assert!(
                largest > 100.0 * tolerance.absolute,
                "{}: every value of {name} is near zero (largest {largest})",
                case.name
            );
        }
    }
}
