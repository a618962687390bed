//! Scalar math used by the layers, losses and optimizers.
//!
//! Everything goes through `libm`, whose functions give the same bits on every target, so a
//! model trained on the desktop and on a Cortex-M agrees exactly. The `micromath` feature swaps
//! the sigmoid and tanh activations for faster approximations built on `micromath`'s `exp`;
//! their maximum absolute errors against `libm`, measured over `−20 ≤ x ≤ 20` in steps of
//! 1/64 by the test table in this file, are [`MICROMATH_SIGMOID_MAX_ERROR`] and
//! [`MICROMATH_TANH_MAX_ERROR`]. That build is no longer bit-identical with the default one, and
//! its activation derivatives are those of the exact functions, so gradients are approximate
//! too. Losses always use `libm`.
//!
//! Square roots come from a [`Sqrt`] backend. The default, [`Libm`], is correctly rounded; a
//! firmware may plug in the hardware `vsqrt.f32` instruction, which is correctly rounded too, so
//! both give the same bits.

/// Square root backend for the optimizers and normalisations.
///
/// An implementation must be correctly rounded (IEEE 754 `squareRoot`), so that every backend
/// returns the same bits.
pub trait Sqrt {
    /// Returns the correctly rounded square root of `x`.
    fn sqrt(x: f32) -> f32;
}

/// Square roots from `libm` (software, correctly rounded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Libm;

impl Sqrt for Libm {
    #[inline]
    fn sqrt(x: f32) -> f32 {
        libm::sqrtf(x)
    }
}

/// Measured maximum absolute error of [`sigmoid`] with the `micromath` feature (5.07e-4),
/// rounded up.
pub const MICROMATH_SIGMOID_MAX_ERROR: f32 = 6e-4;

/// Measured maximum absolute error of [`tanh`] with the `micromath` feature (1.01e-3), rounded
/// up.
pub const MICROMATH_TANH_MAX_ERROR: f32 = 1.1e-3;

/// Returns `e^x`.
#[inline]
pub fn exp(x: f32) -> f32 {
    libm::expf(x)
}

/// Returns the natural logarithm of `x`.
#[inline]
pub fn ln(x: f32) -> f32 {
    libm::logf(x)
}

/// Returns `ln(1 + x)`, accurate for small `x`.
#[inline]
pub fn ln_1p(x: f32) -> f32 {
    libm::log1pf(x)
}

/// Returns the hyperbolic tangent of `x`.
#[inline]
pub fn tanh(x: f32) -> f32 {
    #[cfg(feature = "micromath")]
    {
        // tanh(x) = 1 − 2 / (e^(2x) + 1), saturated where e^(2x) overflows.
        if x > 9.0 {
            return 1.0;
        }
        if x < -9.0 {
            return -1.0;
        }
        1.0 - 2.0 / (micromath::F32Ext::exp(2.0 * x) + 1.0)
    }
    #[cfg(not(feature = "micromath"))]
    {
        libm::tanhf(x)
    }
}

/// Returns the logistic sigmoid `1 / (1 + e^−x)`.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    #[cfg(feature = "micromath")]
    {
        1.0 / (1.0 + micromath::F32Ext::exp(-x))
    }
    #[cfg(not(feature = "micromath"))]
    {
        1.0 / (1.0 + libm::expf(-x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative error allowed between `libm` and the reference `f64` functions.
    const LIBM_MAX_RELATIVE_ERROR: f64 = 1e-6;
    /// Absolute error allowed between the default activations and their `f64` values.
    const LIBM_MAX_ERROR: f64 = 2e-7;

    fn relative_error(approx: f32, exact: f64) -> f64 {
        (f64::from(approx) - exact).abs() / exact.abs().max(1e-30)
    }

    #[test]
    fn sqrt_is_correctly_rounded() {
        for &x in &[
            0.0f32,
            1.0,
            2.0,
            3.0,
            1e-8,
            0.5,
            123456.79,
            f32::MIN_POSITIVE,
            1e30,
        ] {
            let root = Libm::sqrt(x);
            let exact = f64::from(x).sqrt();
            // Correct rounding: the f32 nearest to the exact root.
            assert_eq!(root, exact as f32, "sqrt({x})");
        }
        assert_eq!(Libm::sqrt(2.0), core::f32::consts::SQRT_2);
    }

    /// Returns the largest absolute difference between `f` and `reference` over
    /// `−20 ≤ x ≤ 20` in steps of 1/64.
    fn max_error(f: fn(f32) -> f32, reference: fn(f64) -> f64) -> f64 {
        let mut worst = 0.0f64;
        for i in -1280..=1280 {
            let x = i as f32 / 64.0;
            worst = worst.max((f64::from(f(x)) - reference(f64::from(x))).abs());
        }
        worst
    }

    fn exact_sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + libm::exp(-x))
    }

    #[test]
    fn activation_error_table() {
        // (name, measured error, bound): the default build must be exact to a few ulps; the
        // micromath build must stay within its documented bound and actually be the
        // approximation (its error is at least half the bound).
        let table = [
            (
                "sigmoid",
                max_error(sigmoid, exact_sigmoid),
                MICROMATH_SIGMOID_MAX_ERROR,
            ),
            (
                "tanh",
                max_error(tanh, libm::tanh),
                MICROMATH_TANH_MAX_ERROR,
            ),
        ];
        for (name, error, bound) in table {
            if cfg!(feature = "micromath") {
                assert!(
                    error <= f64::from(bound),
                    "{name}: error {error} above bound {bound}"
                );
                assert!(
                    error >= f64::from(bound) / 2.0,
                    "{name}: error {error} suspiciously small"
                );
            } else {
                assert!(error <= LIBM_MAX_ERROR, "{name}: error {error}");
            }
        }
    }

    #[test]
    fn exp_and_logs_match_f64_reference() {
        for i in -1280..=1280 {
            let x = i as f32 / 64.0;
            let e = libm::exp(f64::from(x));
            assert!(
                relative_error(exp(x), e) <= LIBM_MAX_RELATIVE_ERROR,
                "exp({x})"
            );
        }
        assert!(relative_error(ln(10.0), core::f64::consts::LN_10) <= LIBM_MAX_RELATIVE_ERROR);
        assert!(relative_error(ln_1p(1e-7), 1e-7) <= LIBM_MAX_RELATIVE_ERROR);
    }
}
