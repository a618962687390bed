//! The PyTorch layer golden vectors of `tests/golden/layers/layers.json`, checked without a file
//! system or an allocator, so that a device can run them.
//!
//! `build.rs` turns the golden file into constants. [`CASES`] names the gradwell type and batch
//! size that match each case's PyTorch module, as `tests/tests/pytorch_layers.rs` does. A check
//! loads the parameters by their `state_dict` names, then runs one training forward pass, one
//! backward pass with the case's upstream gradient and one commit. It compares the output, the
//! input gradient, the parameter gradients and the running statistics with PyTorch's under the
//! tolerances below, which the host test uses too.

use gradwell::{
    seq, BatchNorm, Dense, Frozen, Layer, LeakyRelu, Mode, MultiTask, Relu, Residual, Sigmoid,
    Skip, Tanh, TensorKind, Tensors, Zeroed,
};

mod data {
    use super::{GoldenCase, Mode, NamedTensor};

    include!(concat!(env!("OUT_DIR"), "/golden_layers.rs"));
}

pub use data::TORCH_VERSION;

/// Allowed difference between a gradwell value and PyTorch's:
/// `|actual − expected| ≤ absolute + relative · |expected|`, checked in both directions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Allowed difference near zero.
    pub absolute: f32,
    /// Allowed difference per unit of `|expected|`.
    pub relative: f32,
}

impl Tolerance {
    /// Returns the largest allowed `|actual − expected|` for `expected`.
    pub fn allowed(&self, expected: f32) -> f32 {
        self.absolute + self.relative * expected.abs()
    }
}

/// Tolerance for layer outputs.
///
/// On these cases, with torch 2.15 on x86-64, dense layers match PyTorch bit for bit with the
/// identity, ReLU and leaky ReLU, and within one float32 ulp with sigmoid and tanh (`libm`
/// against PyTorch's vectorised functions). Batch normalisation differs most: PyTorch's CPU
/// kernel computes `y = x·a + (β − μ·a)` with `a = γ / √(σ² + ε)`, and rounding `μ·a` costs it
/// up to one float32 ulp of `|μ·a|`. In `batch_norm_train_batch4`, whose zero-variance feature
/// has `a ≈ 316` and `μ·a ≈ 237`, PyTorch misses the exact (float64) output by 5.1e-6 and
/// gradwell by 2.8e-7. The relative part, about 100 float32 ulps, leaves room for a different
/// summation order in longer chains.
pub const FORWARD_TOLERANCE: Tolerance = Tolerance {
    absolute: 1e-5,
    relative: 1e-5,
};

/// Tolerance for input and parameter gradients.
///
/// The batch-norm input gradient `a/B · (B·dy − Σdy − x̂·Σdy·x̂)` cancels terms up to `a` times
/// larger than the result, so both libraries lose precision in proportion to `a`. The largest
/// difference seen is 3.1e-5 on a value of 318 (`a ≈ 316`). Relative to its value, the largest
/// is 1.4e-6 on 0.23 in `batch_norm_train_batch8` (`a ≈ 16`). Over that case's input gradient,
/// gradwell is within 3.1e-6 of the exact value and PyTorch within 2.1e-6.
pub const GRADIENT_TOLERANCE: Tolerance = Tolerance {
    absolute: 1e-5,
    relative: 1e-5,
};

/// Tolerance for running statistics after one step. The update
/// `r ← (1 − m)·r + m·b` adds one or two roundings to the batch statistics. The largest
/// difference seen is 6e-8.
pub const RUNNING_STAT_TOLERANCE: Tolerance = Tolerance {
    absolute: 1e-6,
    relative: 1e-6,
};

/// A named tensor of a golden case, in row-major order.
#[derive(Debug)]
pub struct NamedTensor {
    /// `state_dict` name, such as `0.weight`.
    pub name: &'static str,
    /// The values.
    pub values: &'static [f32],
}

/// One layer run through one training step in PyTorch.
#[derive(Debug)]
pub struct GoldenCase {
    /// Case name, such as `dense_relu_batch4`.
    pub name: &'static str,
    /// Samples in the batch.
    pub batch: u64,
    /// Batch-normalisation mode of the training forward pass.
    pub mode: Mode,
    /// Input batch.
    pub x: &'static [f32],
    /// Upstream gradient.
    pub dy: &'static [f32],
    /// Expected output.
    pub y: &'static [f32],
    /// Expected input gradient.
    pub dx: &'static [f32],
    /// Parameters and buffers before the step.
    pub parameters: &'static [NamedTensor],
    /// Expected gradients of the trainable parameters.
    pub grads: &'static [NamedTensor],
    /// Expected buffers (running statistics) after the step.
    pub buffers_after: &'static [NamedTensor],
}

/// A value outside its tolerance.
#[derive(Clone, Copy, Debug)]
pub struct Mismatch<'a> {
    /// `y`, `dx`, `grad {name}` or a buffer name.
    pub tensor: &'a str,
    /// Index in row-major order.
    pub index: usize,
    /// PyTorch's value.
    pub expected: f32,
    /// gradwell's value.
    pub actual: f32,
    /// The largest allowed difference.
    pub allowed: f32,
}

/// Result of one case.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Values compared.
    pub compared: u32,
    /// Values outside their tolerance.
    pub mismatches: u32,
    /// Largest `|actual − expected|` of outputs.
    pub max_forward_difference: f32,
    /// Largest `|actual − expected|` of input and parameter gradients.
    pub max_gradient_difference: f32,
    /// Largest `|actual − expected|` of running statistics.
    pub max_running_stat_difference: f32,
}

/// A golden case and the check that runs it with the matching gradwell type.
#[derive(Clone, Copy, Debug)]
pub struct Check {
    /// Case name in the golden file.
    pub name: &'static str,
    /// Runs the case and calls the closure on every mismatch.
    pub run: fn(&GoldenCase, &mut dyn FnMut(&Mismatch<'_>)) -> Outcome,
}

impl Check {
    /// Returns the golden data of this case.
    ///
    /// # Panics
    /// When the golden file has no case of this name.
    pub fn case(&self) -> &'static GoldenCase {
        find(self.name).unwrap_or_else(|| panic!("golden case {} not found", self.name))
    }
}

/// Returns the golden case called `name`.
pub fn find(name: &str) -> Option<&'static GoldenCase> {
    data::DATA.iter().find(|case| case.name == name)
}

/// Returns every case of the golden file.
pub fn all() -> &'static [GoldenCase] {
    data::DATA
}

/// Calls the macro `$callback` with every golden case, as `name: gradwell type, batch B;`
/// lines, so that the host test and the device harness share one table. The caller must have
/// the layer types in scope, and `Heads` as the multi-task heads
/// `(Dense<6, 1>, Dense<6, 1, Sigmoid>, Dense<6, 2>)`.
#[macro_export]
macro_rules! golden_cases {
    ($callback:ident) => {
        $callback! {
            dense_identity_batch1: Dense<5, 3>, batch 1;
            dense_identity_batch4: Dense<5, 3>, batch 4;
            dense_relu_batch1: Dense<5, 3, Relu>, batch 1;
            dense_relu_batch4: Dense<5, 3, Relu>, batch 4;
            dense_leaky_relu_batch1: Dense<5, 3, LeakyRelu<10>>, batch 1;
            dense_leaky_relu_batch4: Dense<5, 3, LeakyRelu<10>>, batch 4;
            dense_sigmoid_batch1: Dense<5, 3, Sigmoid>, batch 1;
            dense_sigmoid_batch4: Dense<5, 3, Sigmoid>, batch 4;
            dense_tanh_batch1: Dense<5, 3, Tanh>, batch 1;
            dense_tanh_batch4: Dense<5, 3, Tanh>, batch 4;
            batch_norm_train_batch4: BatchNorm<3>, batch 4;
            batch_norm_train_batch8: BatchNorm<5>, batch 8;
            batch_norm_eval_batch1: BatchNorm<3>, batch 1;
            batch_norm_eval_batch4: BatchNorm<3>, batch 4;
            dense_batch_norm_chain_train: seq![Dense<4, 6>, BatchNorm<6>, Dense<6, 2, Tanh>], batch 4;
            residual_identity: Residual<seq![Dense<4, 6, Tanh>, Dense<6, 4>], Skip<4>>, batch 4;
            residual_projected: Residual<seq![Dense<3, 5, Relu>, Dense<5, 2>], Dense<3, 2>>, batch 4;
            residual_batch_norm_train: Residual<seq![Dense<4, 4, Tanh>, BatchNorm<4>, Dense<4, 4>], Skip<4>>, batch 4;
            multi_task: MultiTask<Dense<4, 6, Relu>, Heads>, batch 4;
            multi_task_frozen_trunk: MultiTask<Frozen<seq![Dense<4, 6, Relu>, BatchNorm<6>]>, Heads>, batch 4;
        }
    };
}

/// The heads of the multi-task golden cases.
pub type Heads = (Dense<6, 1>, Dense<6, 1, Sigmoid>, Dense<6, 2>);

/// Declares [`CASES`]: each golden case with its gradwell type and batch size.
macro_rules! golden_checks {
    ($($name:ident: $layer:ty, batch $batch:literal;)+) => {
        /// Every golden case with the gradwell type that matches its PyTorch module.
        pub const CASES: &[Check] = &[$(
            Check { name: stringify!($name), run: check::<$layer, $batch> },
        )+];
    };
}

golden_cases!(golden_checks);

/// Returns the golden tensor `name` of `tensors`.
///
/// # Panics
/// When it is missing, which means that the gradwell type does not match the PyTorch module.
fn named(case: &GoldenCase, tensors: &'static [NamedTensor], name: &str) -> &'static [f32] {
    tensors
        .iter()
        .find(|tensor| tensor.name == name)
        .map(|tensor| tensor.values)
        .unwrap_or_else(|| panic!("{}: model tensor {name} has no golden value", case.name))
}

/// Returns a value of type `T` filled from `values`.
///
/// # Panics
/// When the lengths differ.
fn from_values<T: Tensors>(case: &GoldenCase, field: &str, values: &[f32]) -> T {
    assert!(
        values.len() == T::LEN,
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

/// Compares values and tracks the outcome.
struct Comparison<'a, 'f> {
    outcome: Outcome,
    on_mismatch: &'f mut dyn FnMut(&Mismatch<'_>),
    case: &'a GoldenCase,
}

impl Comparison<'_, '_> {
    fn compare(&mut self, tolerance: Tolerance, tensor: &str, expected: &[f32], actual: &[f32]) {
        assert!(
            expected.len() == actual.len(),
            "{}: {tensor} has {} golden values, the model produced {}",
            self.case.name,
            expected.len(),
            actual.len()
        );
        let max = if tolerance == FORWARD_TOLERANCE {
            &mut self.outcome.max_forward_difference
        } else if tolerance == GRADIENT_TOLERANCE {
            &mut self.outcome.max_gradient_difference
        } else {
            &mut self.outcome.max_running_stat_difference
        };
        for (index, (&expected, &actual)) in expected.iter().zip(actual).enumerate() {
            let difference = (actual - expected).abs();
            let allowed = tolerance.allowed(expected);
            self.outcome.compared += 1;
            // A NaN fails this check but does not raise the maximum.
            if difference.is_nan() || difference > allowed {
                self.outcome.mismatches += 1;
                (self.on_mismatch)(&Mismatch {
                    tensor,
                    index,
                    expected,
                    actual,
                    allowed,
                });
            }
            if difference > *max {
                *max = difference;
            }
        }
    }
}

/// Runs `case` through the gradwell type `L` with a batch of `B` and compares every result
/// with PyTorch's.
fn check<L, const B: usize>(
    case: &GoldenCase,
    on_mismatch: &mut dyn FnMut(&Mismatch<'_>),
) -> Outcome
where
    L: Layer + Zeroed,
    L::Input: Tensors,
    L::Output: Tensors,
{
    assert!(
        case.batch == B as u64,
        "{}: the golden batch has {} samples, the check runs {B}",
        case.name,
        case.batch
    );

    let mut model = L::zeroed();
    model.visit_tensors_mut("", 0, &mut |info, values| {
        let golden = named(case, case.parameters, info.name);
        assert!(
            golden.len() == values.len(),
            "{}: {} has {} golden values, the model has {}",
            case.name,
            info.name,
            golden.len(),
            values.len()
        );
        values.copy_from_slice(golden);
    });

    let x: [L::Input; B] = from_values(case, "x", case.x);
    // Outputs start as NaN: forward and backward must overwrite every value, not add to it.
    let mut y = <[L::Output; B]>::zeroed();
    y.for_each_mut(&mut |slice| slice.fill(f32::NAN));
    let mut cache = L::Cache::<B>::zeroed();
    if let Err(error) = model.forward_train(&x, &mut y, &mut cache, case.mode) {
        panic!("{}: forward_train failed: {error}", case.name);
    }

    let mut dy: [L::Output; B] = from_values(case, "dy", case.dy);
    let mut dx = <[L::Input; B]>::zeroed();
    dx.for_each_mut(&mut |slice| slice.fill(f32::NAN));
    let mut grads = L::Grads::zeroed();
    grads.for_each_mut(&mut |slice| slice.fill(f32::NAN));
    model.backward(&x, &y, &mut cache, &mut dy, Some(&mut dx), Some(&mut grads));
    model.commit::<B>(&cache);

    let mut comparison = Comparison {
        outcome: Outcome::default(),
        on_mismatch,
        case,
    };
    compare_flat(&mut comparison, FORWARD_TOLERANCE, "y", case.y, &y);
    compare_flat(&mut comparison, GRADIENT_TOLERANCE, "dx", case.dx, &dx);
    compare_gradients(&mut comparison, &mut model, &grads);
    model.visit_tensors("", 0, &mut |info, values| {
        if info.kind == TensorKind::Buffer {
            let expected = named(case, case.buffers_after, info.name);
            comparison.compare(RUNNING_STAT_TOLERANCE, info.name, expected, values);
        }
    });
    comparison.outcome
}

/// Compares `tensors`, visited in order as one row-major array, with `expected`.
fn compare_flat<T: Tensors>(
    comparison: &mut Comparison<'_, '_>,
    tolerance: Tolerance,
    tensor: &str,
    expected: &[f32],
    tensors: &T,
) {
    assert!(
        expected.len() == T::LEN,
        "{}: {tensor} has {} golden values, the model produced {}",
        comparison.case.name,
        expected.len(),
        T::LEN
    );
    let mut offset = 0;
    tensors.for_each(&mut |slice| {
        let end = offset + slice.len();
        // Indices in mismatches are per slice here; the offset keeps them row-major.
        let mut shifted = |mismatch: &Mismatch<'_>| {
            (comparison.on_mismatch)(&Mismatch {
                index: mismatch.index + offset,
                ..*mismatch
            })
        };
        let mut inner = Comparison {
            outcome: comparison.outcome,
            on_mismatch: &mut shifted,
            case: comparison.case,
        };
        inner.compare(tolerance, tensor, &expected[offset..end], slice);
        comparison.outcome = inner.outcome;
        offset = end;
    });
}

/// Compares each parameter gradient with the golden gradient of the same name.
///
/// [`Layer::visit_trainable`] hands out each parameter slice beside its gradient, and
/// [`Layer::visit_tensors`] the same slice beside its name, so the slice's address pairs them.
fn compare_gradients<L: Layer>(
    comparison: &mut Comparison<'_, '_>,
    model: &mut L,
    grads: &L::Grads,
) {
    let mut parameters: heapless::Vec<(usize, &'static str), 16> = heapless::Vec::new();
    let case = comparison.case;
    model.visit_tensors("", 0, &mut |info, values| {
        if info.kind == TensorKind::Parameter {
            // Golden names are 'static; the model's are not, so store the golden one.
            let golden_name = case
                .grads
                .iter()
                .find(|tensor| tensor.name == info.name)
                .map_or("", |tensor| tensor.name);
            parameters
                .push((values.as_ptr() as usize, golden_name))
                .expect("more than 16 parameters in a golden case");
        }
    });
    let mut trainable = 0;
    model.visit_trainable::<0>(grads, [], &mut |parameter, gradient, _| {
        let address = parameter.as_ptr() as usize;
        let name = parameters
            .iter()
            .find(|(candidate, _)| *candidate == address)
            .map_or("", |(_, name)| *name);
        assert!(
            !name.is_empty(),
            "{}: a trainable tensor has no golden gradient",
            case.name
        );
        let expected = named(case, case.grads, name);
        comparison.compare(GRADIENT_TOLERANCE, name, expected, gradient);
        trainable += 1;
    });
    assert!(
        trainable == case.grads.len(),
        "{}: {trainable} trainable tensors, {} golden gradients",
        case.name,
        case.grads.len()
    );
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::boxed::Box;
    use std::string::String;

    use super::*;

    #[test]
    fn every_golden_case_has_check() {
        for case in all() {
            assert!(
                CASES.iter().any(|check| check.name == case.name),
                "golden case {} has no check",
                case.name
            );
        }
        assert_eq!(CASES.len(), all().len(), "checks and golden cases differ");
    }

    #[test]
    fn golden_cases_pass() {
        for check in CASES {
            let case = check.case();
            let outcome = (check.run)(case, &mut |mismatch| {
                panic!("{}: {mismatch:?}", case.name);
            });
            assert_eq!(outcome.mismatches, 0, "{}", case.name);
            assert!(outcome.compared > 0, "{} compared nothing", case.name);
        }
    }

    #[test]
    fn check_reports_changed_golden_value() {
        let check = &CASES[0];
        let case = check.case();
        let mut y: [f32; 3] = [0.0; 3];
        y.copy_from_slice(case.y);
        y[1] += 1e-3;
        let changed = GoldenCase {
            y: Box::leak(Box::new(y)),
            ..*case
        };
        let mut reported = None;
        let outcome = (check.run)(&changed, &mut |mismatch| {
            reported = Some((String::from(mismatch.tensor), mismatch.index));
        });
        assert_eq!(outcome.mismatches, 1);
        assert_eq!(reported, Some(("y".into(), 1)));
    }
}
