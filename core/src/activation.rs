//! Element-wise activations for [`Dense`](crate::Dense) layers.
//!
//! Each activation gives its forward formula and its derivative written in terms of the output
//! `y`, which is what the backward pass has at hand:
//!
//! | activation | forward `y = f(z)` | derivative `f'(z)` from `y` |
//! |---|---|---|
//! | [`Identity`] | `z` | `1` |
//! | [`Relu`] | `max(z, 0)` | `1` if `y > 0`, else `0` |
//! | [`LeakyRelu`] | `z` if `z > 0`, else `s·z` | `1` if `y > 0`, else `s` |
//! | [`Sigmoid`] | `1 / (1 + e^-z)` | `y (1 − y)` |
//! | [`Tanh`] | `tanh z` | `1 − y²` |
//!
//! Softmax is not here: it belongs to the loss (see [`loss`](crate::loss)), where it is fused
//! with the cross-entropy for numerical stability.

use crate::math;

/// An element-wise activation function.
pub trait Activation: Copy + Default {
    /// Name used in summaries and fingerprints.
    const NAME: &'static str;
    /// Stable identifier used in checkpoint fingerprints.
    const ID: u8;

    /// Returns `f(z)`.
    fn forward(z: f32) -> f32;

    /// Returns `f'(z)`, computed from the output `y = f(z)`.
    fn derivative(y: f32) -> f32;
}

/// `y = z`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Identity;

/// `y = max(z, 0)`, as PyTorch's `nn.ReLU` and Keras's `"relu"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Relu;

/// `y = z` for `z > 0`, else `s·z`, with slope `s = SLOPE_MILLI / 1000`.
///
/// The default slope 0.01 is PyTorch's `nn.LeakyReLU` default; Keras's `LeakyReLU` defaults to
/// 0.3, which is `LeakyRelu<300>`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LeakyRelu<const SLOPE_MILLI: u32 = 10>;

/// `y = 1 / (1 + e^-z)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sigmoid;

/// `y = tanh z`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tanh;

impl Activation for Identity {
    const NAME: &'static str = "identity";
    const ID: u8 = 0;
    #[inline(always)]
    fn forward(z: f32) -> f32 {
        z
    }
    #[inline(always)]
    fn derivative(_y: f32) -> f32 {
        1.0
    }
}

impl Activation for Relu {
    const NAME: &'static str = "relu";
    const ID: u8 = 1;
    #[inline(always)]
    fn forward(z: f32) -> f32 {
        if z > 0.0 {
            z
        } else {
            0.0
        }
    }
    #[inline(always)]
    fn derivative(y: f32) -> f32 {
        if y > 0.0 {
            1.0
        } else {
            0.0
        }
    }
}

impl<const SLOPE_MILLI: u32> LeakyRelu<SLOPE_MILLI> {
    /// Slope for negative inputs.
    pub const NEGATIVE_SLOPE: f32 = SLOPE_MILLI as f32 / 1000.0;
}

impl<const SLOPE_MILLI: u32> Activation for LeakyRelu<SLOPE_MILLI> {
    const NAME: &'static str = "leaky_relu";
    const ID: u8 = 2;
    #[inline(always)]
    fn forward(z: f32) -> f32 {
        if z > 0.0 {
            z
        } else {
            z * Self::NEGATIVE_SLOPE
        }
    }
    #[inline(always)]
    fn derivative(y: f32) -> f32 {
        if y > 0.0 {
            1.0
        } else {
            Self::NEGATIVE_SLOPE
        }
    }
}

impl Activation for Sigmoid {
    const NAME: &'static str = "sigmoid";
    const ID: u8 = 3;
    #[inline(always)]
    fn forward(z: f32) -> f32 {
        math::sigmoid(z)
    }
    #[inline(always)]
    fn derivative(y: f32) -> f32 {
        y * (1.0 - y)
    }
}

impl Activation for Tanh {
    const NAME: &'static str = "tanh";
    const ID: u8 = 4;
    #[inline(always)]
    fn forward(z: f32) -> f32 {
        math::tanh(z)
    }
    #[inline(always)]
    fn derivative(y: f32) -> f32 {
        1.0 - y * y
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Largest difference allowed between an analytic derivative and a central difference.
    const DERIVATIVE_TOLERANCE: f64 = 1e-3;

    fn check<A: Activation>() {
        for &z in &[-3.0f32, -0.7, -0.1, 0.2, 0.9, 2.5] {
            let h = 1e-3f32;
            let numeric = (f64::from(A::forward(z + h)) - f64::from(A::forward(z - h)))
                / (2.0 * f64::from(h));
            let analytic = f64::from(A::derivative(A::forward(z)));
            assert!(
                (numeric - analytic).abs() <= DERIVATIVE_TOLERANCE,
                "{} at {z}: analytic {analytic}, numeric {numeric}",
                A::NAME
            );
        }
    }

    #[test]
    fn derivatives_match_central_differences() {
        check::<Identity>();
        check::<Relu>();
        check::<LeakyRelu>();
        check::<LeakyRelu<300>>();
        check::<Sigmoid>();
        check::<Tanh>();
    }

    #[test]
    fn leaky_relu_slopes() {
        assert_eq!(LeakyRelu::<10>::NEGATIVE_SLOPE, 0.01);
        assert_eq!(LeakyRelu::<300>::NEGATIVE_SLOPE, 0.3);
        assert_eq!(LeakyRelu::<10>::forward(-2.0), -0.02);
    }
}
