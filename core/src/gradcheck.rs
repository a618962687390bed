//! Gradient checks against central finite differences, for the unit tests of every layer.
//!
//! The check uses the scalar loss `L = Σ c ⊙ y` with fixed random coefficients `c`, so that
//! `dy = c`. Each trainable parameter and each input is moved by `±STEP`, the loss is
//! accumulated in `f64`, and `(L(+) − L(−)) / 2·STEP` is compared with the analytic gradient.

extern crate std;

use std::vec::Vec;

use crate::layer::{Layer, Mode, TensorKind};
use crate::tensor::{Tensors, Zeroed};
use crate::{Init, Rng};

/// Finite-difference step.
const STEP: f32 = 1e-3;
/// Absolute part of the allowed difference between analytic and numeric gradients.
pub const GRADIENT_ABS_TOLERANCE: f64 = 2e-3;
/// Relative part of the allowed difference between analytic and numeric gradients.
pub const GRADIENT_REL_TOLERANCE: f64 = 2e-2;

fn flatten<T: Tensors>(t: &T) -> Vec<f32> {
    let mut out = Vec::new();
    t.for_each(&mut |s| out.extend_from_slice(s));
    out
}

fn set_flat<T: Tensors>(t: &mut T, index: usize, value: f32) {
    let mut offset = 0;
    t.for_each_mut(&mut |s| {
        if index >= offset && index < offset + s.len() {
            s[index - offset] = value;
        }
        offset += s.len();
    });
}

fn loss<L: Layer, const B: usize>(
    layer: &L,
    x: &[L::Input; B],
    coefficients: &[f32],
    mode: Mode,
) -> f64
where
    L::Output: Tensors,
{
    let mut y = <[L::Output; B]>::zeroed();
    let mut cache = L::Cache::<B>::zeroed();
    layer
        .forward_train(x, &mut y, &mut cache, mode)
        .expect("forward_train failed");
    flatten(&y)
        .iter()
        .zip(coefficients)
        .map(|(&v, &c)| f64::from(v) * f64::from(c))
        .sum()
}

fn trainable_values<L: Layer>(layer: &L) -> Vec<(usize, bool)> {
    // (position in visit_tensors order, trainable?) for each stored value.
    let mut out = Vec::new();
    layer.visit_tensors("", 0, &mut |info, values| {
        let trainable = info.kind == TensorKind::Parameter && !info.frozen;
        out.extend(core::iter::repeat_n((0, trainable), values.len()));
    });
    out.iter().enumerate().map(|(i, &(_, t))| (i, t)).collect()
}

fn perturb<L: Layer>(layer: &mut L, position: usize, delta: f32) {
    let mut offset = 0;
    layer.visit_tensors_mut("", 0, &mut |_, values| {
        if position >= offset && position < offset + values.len() {
            values[position - offset] += delta;
        }
        offset += values.len();
    });
}

fn assert_close(what: &str, index: usize, analytic: f64, numeric: f64, seed: u64) {
    let allowed =
        GRADIENT_ABS_TOLERANCE + GRADIENT_REL_TOLERANCE * analytic.abs().max(numeric.abs());
    assert!(
        (analytic - numeric).abs() <= allowed,
        "seed {seed}: {what}[{index}]: analytic {analytic}, numeric {numeric}, allowed difference {allowed}"
    );
}

/// Checks the parameter and input gradients of a layer built with `seed`, in training mode.
pub fn check_layer<L, const B: usize>(seed: u64)
where
    L: Layer + Zeroed,
    L::Input: Tensors,
    L::Output: Tensors,
{
    let mut rng = Rng::new(seed);
    let mut layer = L::zeroed();
    layer.init(Init::PyTorch, &mut rng);
    check_layer_value::<L, B>(&mut layer, seed, Mode::Train);
}

/// Checks the gradients of a given layer value, in the given mode.
pub fn check_layer_value<L, const B: usize>(layer: &mut L, seed: u64, mode: Mode)
where
    L: Layer,
    L::Input: Tensors,
    L::Output: Tensors,
{
    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut x = <[L::Input; B]>::zeroed();
    x.for_each_mut(&mut |s| s.iter_mut().for_each(|v| *v = rng.uniform(-1.5, 1.5)));
    let outputs = <[L::Output; B]>::LEN;
    let coefficients: Vec<f32> = (0..outputs).map(|_| rng.uniform(-1.0, 1.0)).collect();

    // Analytic gradients.
    let mut y = <[L::Output; B]>::zeroed();
    let mut cache = L::Cache::<B>::zeroed();
    layer
        .forward_train(&x, &mut y, &mut cache, mode)
        .expect("forward_train failed");
    let mut dy = <[L::Output; B]>::zeroed();
    let mut i = 0;
    dy.for_each_mut(&mut |s| {
        for v in s {
            *v = coefficients[i];
            i += 1;
        }
    });
    let mut dx = <[L::Input; B]>::zeroed();
    let mut grads = L::Grads::zeroed();
    layer.backward(&x, &y, &mut cache, &mut dy, Some(&mut dx), Some(&mut grads));
    let analytic_params = flatten(&grads);
    let analytic_inputs = flatten(&dx);

    // Parameters, in visit order; the trainable ones line up with the gradients.
    let mut next_grad = 0;
    for (position, trainable) in trainable_values(layer) {
        let numeric = {
            perturb(layer, position, STEP);
            let plus = loss(layer, &x, &coefficients, mode);
            perturb(layer, position, -2.0 * STEP);
            let minus = loss(layer, &x, &coefficients, mode);
            perturb(layer, position, STEP);
            (plus - minus) / (2.0 * f64::from(STEP))
        };
        if trainable {
            assert_close(
                "parameter",
                position,
                f64::from(analytic_params[next_grad]),
                numeric,
                seed,
            );
            next_grad += 1;
        }
    }
    assert_eq!(
        next_grad,
        analytic_params.len(),
        "gradient count differs from trainable count"
    );

    // Inputs.
    let flat_x = flatten(&x);
    for (index, &value) in flat_x.iter().enumerate() {
        let mut shifted = x;
        set_flat(&mut shifted, index, value + STEP);
        let plus = loss(layer, &shifted, &coefficients, mode);
        set_flat(&mut shifted, index, value - STEP);
        let minus = loss(layer, &shifted, &coefficients, mode);
        let numeric = (plus - minus) / (2.0 * f64::from(STEP));
        assert_close(
            "input",
            index,
            f64::from(analytic_inputs[index]),
            numeric,
            seed,
        );
    }
}
