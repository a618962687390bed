//! Losses for one task head, with their gradients.
//!
//! Each loss is averaged the way PyTorch's default `reduction="mean"` and Keras's default
//! reduction average it: over the samples of the batch and, for element-wise losses, over the
//! head's outputs too.
//!
//! | loss | per element (prediction `y`, target `t`, `d = y − t`) | gradient | PyTorch | Keras |
//! |---|---|---|---|---|
//! | [`Mse`] | `d²` | `2d` | `MSELoss` | `MeanSquaredError` |
//! | [`Mae`] | `\|d\|` | `sign d` | `L1Loss` | `MeanAbsoluteError` |
//! | [`Huber`] | `d²/2` if `\|d\| ≤ δ`, else `δ(\|d\| − δ/2)` | `d` or `δ sign d` | `HuberLoss` | `Huber` |
//! | [`BinaryCrossEntropy`] | `max(y, 0) − y t + ln(1 + e^−\|y\|)` on logits | `σ(y) − t` | `BCEWithLogitsLoss` | `BinaryCrossentropy(from_logits=True)` |
//! | [`SoftmaxCrossEntropy`] | `ln Σ e^y − y[class]` per sample | `softmax(y) − onehot` | `CrossEntropyLoss` | `SparseCategoricalCrossentropy(from_logits=True)` |
//!
//! The cross-entropies take logits and use the log-sum-exp form, so they stay finite for any
//! finite input.

use crate::math;

/// A loss on one head's output of `N` values.
pub trait Loss<const N: usize> {
    /// One sample's target.
    type Target: Copy;

    /// Returns the loss of one sample, summed over the `N` outputs, and writes its gradient
    /// with respect to `y` into `dy`. The caller divides by [`Loss::elements`] and the number
    /// of samples.
    fn sample(&self, y: &[f32; N], target: &Self::Target, dy: &mut [f32; N]) -> f32;

    /// Number of elements one sample's loss is averaged over (`N` for element-wise losses,
    /// 1 for softmax cross-entropy).
    fn elements(&self) -> usize {
        N
    }

    /// Returns the index of the first non-finite value in a target, if any.
    fn invalid_target(&self, target: &Self::Target) -> Option<usize>;
}

/// Mean squared error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mse;

/// Mean absolute error.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Mae;

/// Huber loss with threshold `delta` (default 1.0 in both PyTorch and Keras).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Huber {
    /// Threshold where the loss turns from quadratic to linear.
    pub delta: f32,
}

impl Default for Huber {
    fn default() -> Self {
        Self { delta: 1.0 }
    }
}

/// Binary cross-entropy on logits, with targets in `[0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BinaryCrossEntropy;

/// Softmax cross-entropy on logits, with the class index as the target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SoftmaxCrossEntropy;

fn first_non_finite(values: &[f32]) -> Option<usize> {
    values.iter().position(|v| !v.is_finite())
}

impl<const N: usize> Loss<N> for Mse {
    type Target = [f32; N];
    fn sample(&self, y: &[f32; N], target: &[f32; N], dy: &mut [f32; N]) -> f32 {
        let mut sum = 0.0;
        for ((g, &p), &t) in dy.iter_mut().zip(y).zip(target) {
            let d = p - t;
            sum += d * d;
            *g = 2.0 * d;
        }
        sum
    }
    fn invalid_target(&self, target: &[f32; N]) -> Option<usize> {
        first_non_finite(target)
    }
}

impl<const N: usize> Loss<N> for Mae {
    type Target = [f32; N];
    fn sample(&self, y: &[f32; N], target: &[f32; N], dy: &mut [f32; N]) -> f32 {
        let mut sum = 0.0;
        for ((g, &p), &t) in dy.iter_mut().zip(y).zip(target) {
            let d = p - t;
            sum += d.abs();
            *g = if d > 0.0 {
                1.0
            } else if d < 0.0 {
                -1.0
            } else {
                0.0
            };
        }
        sum
    }
    fn invalid_target(&self, target: &[f32; N]) -> Option<usize> {
        first_non_finite(target)
    }
}

impl<const N: usize> Loss<N> for Huber {
    type Target = [f32; N];
    fn sample(&self, y: &[f32; N], target: &[f32; N], dy: &mut [f32; N]) -> f32 {
        let delta = self.delta;
        let mut sum = 0.0;
        for ((g, &p), &t) in dy.iter_mut().zip(y).zip(target) {
            let d = p - t;
            if d.abs() <= delta {
                sum += 0.5 * d * d;
                *g = d;
            } else {
                sum += delta * (d.abs() - 0.5 * delta);
                *g = if d > 0.0 { delta } else { -delta };
            }
        }
        sum
    }
    fn invalid_target(&self, target: &[f32; N]) -> Option<usize> {
        first_non_finite(target)
    }
}

impl<const N: usize> Loss<N> for BinaryCrossEntropy {
    type Target = [f32; N];
    fn sample(&self, y: &[f32; N], target: &[f32; N], dy: &mut [f32; N]) -> f32 {
        let mut sum = 0.0;
        for ((g, &z), &t) in dy.iter_mut().zip(y).zip(target) {
            sum += z.max(0.0) - z * t + math::ln_1p(math::exp(-z.abs()));
            *g = math::sigmoid(z) - t;
        }
        sum
    }
    fn invalid_target(&self, target: &[f32; N]) -> Option<usize> {
        target.iter().position(|t| !(0.0..=1.0).contains(t))
    }
}

impl<const N: usize> Loss<N> for SoftmaxCrossEntropy {
    type Target = u32;
    fn sample(&self, y: &[f32; N], target: &u32, dy: &mut [f32; N]) -> f32 {
        let max = y.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum_exp = 0.0;
        for (g, &z) in dy.iter_mut().zip(y) {
            *g = math::exp(z - max);
            sum_exp += *g;
        }
        for g in dy.iter_mut() {
            *g /= sum_exp;
        }
        let class = *target as usize;
        dy[class] -= 1.0;
        max + math::ln(sum_exp) - y[class]
    }
    fn elements(&self) -> usize {
        1
    }
    fn invalid_target(&self, target: &u32) -> Option<usize> {
        if (*target as usize) < N {
            None
        } else {
            Some(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allowed difference between a loss gradient and its central difference.
    const LOSS_GRADIENT_TOLERANCE: f64 = 2e-3;

    fn check_gradient<L: Loss<3>>(loss: &L, y: [f32; 3], target: L::Target) {
        let mut dy = [0.0; 3];
        loss.sample(&y, &target, &mut dy);
        for i in 0..3 {
            let h = 1e-3;
            let mut plus = y;
            plus[i] += h;
            let mut minus = y;
            minus[i] -= h;
            let numeric = (f64::from(loss.sample(&plus, &target, &mut [0.0; 3]))
                - f64::from(loss.sample(&minus, &target, &mut [0.0; 3])))
                / (2.0 * f64::from(h));
            assert!(
                (numeric - f64::from(dy[i])).abs() <= LOSS_GRADIENT_TOLERANCE,
                "output {i}: analytic {}, numeric {numeric}",
                dy[i]
            );
        }
    }

    #[test]
    fn values_on_literals() {
        let mut dy = [0.0; 2];
        assert_eq!(Mse.sample(&[1.0, 3.0], &[0.0, 1.0], &mut dy), 5.0);
        assert_eq!(dy, [2.0, 4.0]);
        assert_eq!(Mae.sample(&[1.0, 3.0], &[0.0, 4.0], &mut dy), 2.0);
        assert_eq!(dy, [1.0, -1.0]);
        assert_eq!(
            Huber::default().sample(&[0.5, 3.0], &[0.0, 0.0], &mut dy),
            0.125 + 2.5
        );
        assert_eq!(dy, [0.5, 1.0]);
        let bce = BinaryCrossEntropy.sample(&[0.0, 0.0], &[1.0, 0.0], &mut dy);
        assert!((bce - 2.0 * core::f32::consts::LN_2).abs() < 1e-6);
        assert_eq!(dy, [-0.5, 0.5]);
        let mut dy3 = [0.0; 3];
        let ce = SoftmaxCrossEntropy.sample(&[1.0, 1.0, 1.0], &2, &mut dy3);
        assert!((ce - libm::logf(3.0)).abs() < 1e-6);
        assert!((dy3[2] + 2.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn cross_entropies_stay_finite_for_large_logits() {
        let mut dy = [0.0; 3];
        let ce = SoftmaxCrossEntropy.sample(&[1000.0, -1000.0, 0.0], &1, &mut dy);
        assert_eq!(ce, 2000.0);
        assert!(dy.iter().all(|g| g.is_finite()));
        let bce = BinaryCrossEntropy.sample(&[-200.0, 200.0, 0.0], &[1.0, 0.0, 0.5], &mut dy);
        assert!(bce.is_finite());
        assert!((bce - (400.0 + core::f32::consts::LN_2)).abs() < 1e-3);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let y = [0.3, -1.7, 2.2];
        check_gradient(&Mse, y, [0.1, 0.5, -1.0]);
        check_gradient(&Mae, y, [0.1, 0.5, -1.0]);
        check_gradient(&Huber::default(), y, [0.1, 0.5, -1.0]);
        check_gradient(&BinaryCrossEntropy, y, [1.0, 0.0, 0.3]);
        check_gradient(&SoftmaxCrossEntropy, y, 1);
    }

    #[test]
    fn invalid_targets() {
        assert_eq!(Loss::<2>::invalid_target(&Mse, &[1.0, f32::NAN]), Some(1));
        assert_eq!(
            Loss::<2>::invalid_target(&BinaryCrossEntropy, &[1.5, 0.0]),
            Some(0)
        );
        assert_eq!(Loss::<3>::invalid_target(&SoftmaxCrossEntropy, &3), Some(0));
        assert_eq!(Loss::<3>::invalid_target(&SoftmaxCrossEntropy, &2), None);
    }
}
