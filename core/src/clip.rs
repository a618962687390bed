//! Gradient clipping, applied after the backward pass and before the update.
//!
//! [`GradientClip::Norm`] rescales all gradients together so that their one global L2 norm
//! (over every trainable parameter of the model) is at most `max_norm`, as PyTorch's
//! `torch.nn.utils.clip_grad_norm_` does: the scale is `min(1, max_norm / (norm + 1e-6))`.
//! It is not applied per tensor. [`GradientClip::Value`] clamps every gradient into
//! `[−c, c]`, as `clip_grad_value_` does.
//!
//! Weight clipping (every parameter into `[−λ, λ]` after the update) is a setting of the
//! trainer, see [`Trainer::weight_clip`](crate::Trainer::weight_clip).

use crate::tensor::Tensors;

/// Added to the norm before dividing, as in PyTorch's `clip_grad_norm_`.
pub const NORM_EPSILON: f32 = 1e-6;

/// Gradient clipping method.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum GradientClip {
    /// No clipping.
    #[default]
    None,
    /// Clamp every gradient value into `[−c, c]`.
    Value(f32),
    /// Rescale all gradients so that their global L2 norm is at most `max_norm`.
    Norm(f32),
}

/// Returns the global L2 norm of `grads`, accumulated in `f64`.
pub fn global_norm<G: Tensors>(grads: &G) -> f32 {
    libm::sqrt(grads.sum_squares()) as f32
}

impl GradientClip {
    /// Clips `grads` in place and returns the global norm before and after.
    pub fn apply<G: Tensors>(&self, grads: &mut G) -> (f32, f32) {
        let before = global_norm(grads);
        match *self {
            GradientClip::None => return (before, before),
            GradientClip::Value(limit) => {
                grads.for_each_mut(&mut |t| t.iter_mut().for_each(|g| *g = g.clamp(-limit, limit)));
            }
            GradientClip::Norm(max_norm) => {
                let scale = (max_norm / (before + NORM_EPSILON)).min(1.0);
                grads.for_each_mut(&mut |t| t.iter_mut().for_each(|g| *g *= scale));
            }
        }
        (before, global_norm(grads))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allowed difference between a clipped norm and its target.
    const NORM_TOLERANCE: f32 = 1e-5;

    #[test]
    fn norm_clip_rescales_all_tensors_together() {
        // Global norm 5 over two tensors; each alone is under the limit of 4.
        let mut grads = ([3.0f32, 0.0], [0.0f32, 4.0]);
        let (before, after) = GradientClip::Norm(4.0).apply(&mut grads);
        assert_eq!(before, 5.0);
        assert!((after - 4.0).abs() <= NORM_TOLERANCE, "after {after}");
        let scale = 4.0 / (5.0 + NORM_EPSILON);
        assert_eq!(grads, ([3.0 * scale, 0.0], [0.0, 4.0 * scale]));
    }

    #[test]
    fn norm_clip_leaves_small_gradients() {
        let mut grads = [0.3f32, -0.4];
        let (before, after) = GradientClip::Norm(1.0).apply(&mut grads);
        assert_eq!((before, after), (0.5, 0.5));
        assert_eq!(grads, [0.3, -0.4]);
    }

    #[test]
    fn value_clip_bounds_both_sides() {
        let mut grads = [2.0f32, -3.0, 0.5, -0.25];
        let (before, after) = GradientClip::Value(1.0).apply(&mut grads);
        assert_eq!(grads, [1.0, -1.0, 0.5, -0.25]);
        assert!((before - libm::sqrtf(4.0 + 9.0 + 0.25 + 0.0625)).abs() <= NORM_TOLERANCE);
        assert!((after - libm::sqrtf(1.0 + 1.0 + 0.25 + 0.0625)).abs() <= NORM_TOLERANCE);
    }
}
