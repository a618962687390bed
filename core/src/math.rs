//! Scalar math used by the layers, losses and optimizers.
//!
//! Everything goes through `libm`, whose functions give the same bits on every target, so a
//! model trained on the desktop and on a Cortex-M agrees exactly. The `micromath` feature swaps
//! the exponential used by the activations and losses for a faster approximation; the maximum
//! error measured against `libm` is the constant [`MICROMATH_MAX_RELATIVE_ERROR`], checked by a
//! test table, and that build is no longer bit-identical with the default one.
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

/// Maximum relative error of [`exp`] against `libm::expf` with the `micromath` feature, over
/// the inputs the activations see (`-20 ≤ x ≤ 20`), as measured by the test in this file.
pub const MICROMATH_MAX_RELATIVE_ERROR: f32 = 2e-3;

/// Returns `e^x`.
#[inline]
pub fn exp(x: f32) -> f32 {
    #[cfg(feature = "micromath")]
    {
        micromath::F32Ext::exp(x)
    }
    #[cfg(not(feature = "micromath"))]
    {
        libm::expf(x)
    }
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
        // tanh(x) = 1 - 2 / (e^(2x) + 1), saturated where e^(2x) overflows.
        if x > 9.0 {
            return 1.0;
        }
        if x < -9.0 {
            return -1.0;
        }
        1.0 - 2.0 / (exp(2.0 * x) + 1.0)
    }
    #[cfg(not(feature = "micromath"))]
    {
        libm::tanhf(x)
    }
}

/// Returns the logistic sigmoid `1 / (1 + e^-x)`.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Relative error allowed between `libm` and the reference `f64` functions.
    const LIBM_MAX_RELATIVE_ERROR: f64 = 1e-6;

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

    #[test]
    fn functions_match_f64_reference() {
        let mut x = -20.0f32;
        while x <= 20.0 {
            let e = libm::exp(f64::from(x));
            assert!(relative_error(exp(x), e) <= exp_tolerance(), "exp({x})");
            let t = libm::tanh(f64::from(x));
            if t.abs() > 1e-3 {
                assert!(relative_error(tanh(x), t) <= exp_tolerance(), "tanh({x})");
            }
            let s = 1.0 / (1.0 + libm::exp(-f64::from(x)));
            assert!(
                relative_error(sigmoid(x), s) <= exp_tolerance(),
                "sigmoid({x})"
            );
            x += 0.125;
        }
    }

    fn exp_tolerance() -> f64 {
        if cfg!(feature = "micromath") {
            f64::from(MICROMATH_MAX_RELATIVE_ERROR)
        } else {
            LIBM_MAX_RELATIVE_ERROR
        }
    }
}
