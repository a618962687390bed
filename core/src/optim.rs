//! Optimizers: SGD, SGD with momentum (classic and Nesterov), Adam and AdamW.
//!
//! Each optimizer updates every trainable tensor of a model with its gradient and its own
//! fixed-size state (the moments, in the shape of [`Layer::Grads`]). The formulas follow
//! PyTorch's `torch.optim` step by step, in the same order of operations; [`Adam::keras`]
//! follows Keras 3 instead, whose epsilon sits in another place.
//!
//! | optimizer | state | PyTorch default | Keras default |
//! |---|---|---|---|
//! | [`Sgd`] | none | `SGD(lr)` | `SGD(0.01)` |
//! | [`SgdMomentum`] | one moment | `SGD(lr, momentum, nesterov)` | — |
//! | [`Adam`] | two moments | `Adam(1e-3, (0.9, 0.999), 1e-8)` | `Adam(1e-3, 0.9, 0.999, 1e-7)` |
//! | [`Adam`] (AdamW) | two moments | `AdamW(1e-3, weight_decay = 1e-2)` | `AdamW(weight_decay = 4e-3)` |
//!
//! An update runs in two passes with the same arithmetic: the first only checks that every new
//! value is finite, the second writes. A step that would overflow therefore changes nothing.

use core::marker::PhantomData;

use crate::layer::Layer;
use crate::math::{Libm, Sqrt};
use crate::tensor::Tensors;

/// Something with trainable tensors: a model, or the log-variances of uncertainty weighting.
pub trait Params {
    /// Gradients, in the shape of the trainable tensors.
    type Grads: Tensors;

    /// Calls `f` on each trainable tensor with its gradient and `K` moments.
    #[allow(clippy::type_complexity)]
    fn visit<const K: usize>(
        &mut self,
        grads: &Self::Grads,
        moments: [&mut Self::Grads; K],
        f: &mut dyn FnMut(&mut [f32], &[f32], [&mut [f32]; K]),
    );
}

impl<L: Layer> Params for L {
    type Grads = L::Grads;
    fn visit<const K: usize>(
        &mut self,
        grads: &L::Grads,
        moments: [&mut L::Grads; K],
        f: &mut dyn FnMut(&mut [f32], &[f32], [&mut [f32]; K]),
    ) {
        self.visit_trainable(grads, moments, f);
    }
}

/// One update's settings beside the optimizer's own.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct UpdateContext {
    /// Learning rate for this step, after the schedule.
    pub learning_rate: f32,
    /// Step number, starting at 1 (Adam's bias correction uses it).
    pub step: u32,
    /// Clip every parameter into `[-λ, λ]` after the update.
    pub weight_clip: Option<f32>,
    /// `false` for the checking pass: compute, but write nothing.
    pub write: bool,
}

impl UpdateContext {
    fn finish(&self, param: &mut f32, new: f32) -> bool {
        let finite = new.is_finite();
        if self.write {
            *param = match self.weight_clip {
                Some(limit) => new.clamp(-limit, limit),
                None => new,
            };
        }
        finite
    }
}

/// An optimizer with fixed-size state.
pub trait Optimizer {
    /// State kept for parameters whose gradients have type `G`.
    type State<G: Tensors>: Tensors;

    /// Number of moments kept per parameter: the state is this many copies of the gradients.
    const MOMENTS: usize;

    /// Base learning rate, before the schedule.
    fn learning_rate(&self) -> f32;

    /// Updates (or, with `context.write == false`, checks) every parameter of `params`.
    /// Returns `false` when some new parameter or moment would not be finite.
    fn update<P: Params>(
        &self,
        params: &mut P,
        grads: &P::Grads,
        state: &mut Self::State<P::Grads>,
        context: &UpdateContext,
    ) -> bool;
}

/// Plain stochastic gradient descent: `p ← p − lr (g + λ p)`, as `torch.optim.SGD`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sgd {
    /// Learning rate.
    pub lr: f32,
    /// L2 weight decay `λ`, added to the gradient (0 by default).
    pub weight_decay: f32,
}

impl Sgd {
    /// Creates SGD with learning rate `lr` and no weight decay.
    pub const fn new(lr: f32) -> Self {
        Self {
            lr,
            weight_decay: 0.0,
        }
    }
}

impl Optimizer for Sgd {
    type State<G: Tensors> = ();
    const MOMENTS: usize = 0;

    fn learning_rate(&self) -> f32 {
        self.lr
    }

    fn update<P: Params>(
        &self,
        params: &mut P,
        grads: &P::Grads,
        _state: &mut (),
        context: &UpdateContext,
    ) -> bool {
        let mut finite = true;
        let lr = context.learning_rate;
        params.visit::<0>(grads, [], &mut |p, g, []| {
            for (p, &g) in p.iter_mut().zip(g) {
                let g = if self.weight_decay != 0.0 {
                    g + self.weight_decay * *p
                } else {
                    g
                };
                finite &= context.finish(p, *p - lr * g);
            }
        });
        finite
    }
}

/// Momentum variant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MomentumKind {
    /// `b ← μ b + g`, `p ← p − lr b` (Polyak's heavy ball, PyTorch's default).
    #[default]
    Classic,
    /// `b ← μ b + g`, `p ← p − lr (g + μ b)` (Sutskever et al., ICML 2013, as PyTorch's
    /// `nesterov=True`).
    Nesterov,
}

/// SGD with momentum, as `torch.optim.SGD(lr, momentum, nesterov=…)` with no dampening.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SgdMomentum {
    /// Learning rate.
    pub lr: f32,
    /// Momentum `μ`.
    pub momentum: f32,
    /// Classic or Nesterov momentum.
    pub kind: MomentumKind,
    /// L2 weight decay `λ`, added to the gradient (0 by default).
    pub weight_decay: f32,
}

impl SgdMomentum {
    /// Creates classic momentum SGD.
    pub const fn new(lr: f32, momentum: f32) -> Self {
        Self {
            lr,
            momentum,
            kind: MomentumKind::Classic,
            weight_decay: 0.0,
        }
    }

    /// Creates Nesterov momentum SGD.
    pub const fn nesterov(lr: f32, momentum: f32) -> Self {
        Self {
            lr,
            momentum,
            kind: MomentumKind::Nesterov,
            weight_decay: 0.0,
        }
    }
}

impl Optimizer for SgdMomentum {
    type State<G: Tensors> = G;
    const MOMENTS: usize = 1;

    fn learning_rate(&self) -> f32 {
        self.lr
    }

    fn update<P: Params>(
        &self,
        params: &mut P,
        grads: &P::Grads,
        state: &mut P::Grads,
        context: &UpdateContext,
    ) -> bool {
        let mut finite = true;
        let (lr, mu) = (context.learning_rate, self.momentum);
        params.visit::<1>(grads, [state], &mut |p, g, [buffer]| {
            for ((p, &g), b) in p.iter_mut().zip(g).zip(buffer.iter_mut()) {
                let g = if self.weight_decay != 0.0 {
                    g + self.weight_decay * *p
                } else {
                    g
                };
                // PyTorch starts the buffer at g; `μ·0 + g` is exactly g.
                let new_buffer = mu * *b + g;
                let direction = match self.kind {
                    MomentumKind::Classic => new_buffer,
                    MomentumKind::Nesterov => g + mu * new_buffer,
                };
                finite &= new_buffer.is_finite();
                finite &= context.finish(p, *p - lr * direction);
                if context.write {
                    *b = new_buffer;
                }
            }
        });
        finite
    }
}

/// Framework whose Adam formulas are followed. The two differ in where epsilon is added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AdamConvention {
    /// `torch.optim.Adam`: `p ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)`.
    PyTorch,
    /// Keras 3 `Adam`: `p ← p − lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ) · m / (√v + ε)`.
    Keras,
}

/// Adam (Kingma and Ba, ICLR 2015) and AdamW (Loshchilov and Hutter, ICLR 2019).
///
/// `S` is the square-root backend; see [`Sqrt`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam<S = Libm> {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment, `β₁`. Stored in `f64`, as the frameworks keep it, so that
    /// `1 − β₁` rounds to the same `f32` as theirs.
    pub beta1: f64,
    /// Decay of the second moment, `β₂`, in `f64` like `β₁`.
    pub beta2: f64,
    /// Added to the denominator, `ε`.
    pub epsilon: f32,
    /// Weight decay `λ`: L2 (added to the gradient) for Adam, decoupled for AdamW.
    pub weight_decay: f32,
    /// `true` for AdamW: `p ← p (1 − lr λ)` before the Adam step.
    pub decoupled: bool,
    /// Whose formulas to follow.
    pub convention: AdamConvention,
    sqrt: PhantomData<S>,
}

impl<S: Sqrt> Adam<S> {
    /// `torch.optim.Adam(lr)`: β = (0.9, 0.999), ε = 1e-8, no weight decay.
    pub const fn pytorch(lr: f32) -> Self {
        Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
            convention: AdamConvention::PyTorch,
            sqrt: PhantomData,
        }
    }

    /// `keras.optimizers.Adam(lr)`: β = (0.9, 0.999), ε = 1e-7, no weight decay.
    pub const fn keras(lr: f32) -> Self {
        Self {
            epsilon: 1e-7,
            convention: AdamConvention::Keras,
            ..Self::pytorch(lr)
        }
    }

    /// `torch.optim.AdamW(lr)`: decoupled weight decay 1e-2.
    pub const fn adamw_pytorch(lr: f32) -> Self {
        Self {
            weight_decay: 1e-2,
            decoupled: true,
            ..Self::pytorch(lr)
        }
    }

    /// Returns the optimizer with weight decay `weight_decay`.
    pub const fn with_weight_decay(self, weight_decay: f32) -> Self {
        Self {
            weight_decay,
            ..self
        }
    }
}

impl<S: Sqrt> Optimizer for Adam<S> {
    type State<G: Tensors> = (G, G);
    const MOMENTS: usize = 2;

    fn learning_rate(&self) -> f32 {
        self.lr
    }

    fn update<P: Params>(
        &self,
        params: &mut P,
        grads: &P::Grads,
        state: &mut (P::Grads, P::Grads),
        context: &UpdateContext,
    ) -> bool {
        let lr = context.learning_rate;
        let (beta1, beta2, epsilon) = (self.beta1, self.beta2, self.epsilon);
        // PyTorch computes its bias corrections in f64 from the Python floats β and rounds
        // them once; Keras 3 computes its step size in f32 from β rounded to f32.
        let t = f64::from(context.step);
        let correction1 = 1.0 - libm::pow(beta1, t);
        let correction2 = 1.0 - libm::pow(beta2, t);
        let (one_minus_beta1, one_minus_beta2) = ((1.0 - beta1) as f32, (1.0 - beta2) as f32);
        let beta2_f32 = beta2 as f32;
        let step_size = (f64::from(lr) / correction1) as f32;
        let correction2_sqrt = libm::sqrt(correction2) as f32;
        let t32 = context.step as f32;
        let keras_alpha = lr * libm::sqrtf(1.0 - libm::powf(beta2 as f32, t32))
            / (1.0 - libm::powf(beta1 as f32, t32));
        let decay_factor = 1.0 - lr * self.weight_decay;

        let mut finite = true;
        let (first, second) = state;
        params.visit::<2>(grads, [first, second], &mut |p, g, [m, v]| {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                let mut param = *p;
                let mut g = g;
                if self.weight_decay != 0.0 {
                    if self.decoupled {
                        param *= decay_factor;
                    } else {
                        g += self.weight_decay * param;
                    }
                }
                let (new_m, new_v, new_p) = match self.convention {
                    AdamConvention::PyTorch => {
                        let new_m = *m + one_minus_beta1 * (g - *m);
                        let new_v = *v * beta2_f32 + one_minus_beta2 * (g * g);
                        let denominator = S::sqrt(new_v) / correction2_sqrt + epsilon;
                        (new_m, new_v, param + -step_size * new_m / denominator)
                    }
                    AdamConvention::Keras => {
                        let new_m = *m + (g - *m) * one_minus_beta1;
                        let new_v = *v + (g * g - *v) * one_minus_beta2;
                        (
                            new_m,
                            new_v,
                            param - (new_m * keras_alpha) / (S::sqrt(new_v) + epsilon),
                        )
                    }
                };
                finite &= new_m.is_finite() && new_v.is_finite();
                finite &= context.finish(p, new_p);
                if context.write {
                    *m = new_m;
                    *v = new_v;
                }
            }
        });
        finite
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Dense, Zeroed};

    fn context(step: u32, write: bool) -> UpdateContext {
        UpdateContext {
            learning_rate: 0.1,
            step,
            weight_clip: None,
            write,
        }
    }

    fn one_weight(w: f32) -> Dense<1, 1> {
        Dense::from_parts([[w]], [0.0])
    }

    fn grads(g: f32) -> crate::DenseGrads<1, 1> {
        crate::DenseGrads {
            weight: [[g]],
            bias: [0.0],
        }
    }

    #[test]
    fn sgd_step_and_weight_decay() {
        let mut model = one_weight(1.0);
        assert!(Sgd::new(0.1).update(&mut model, &grads(2.0), &mut (), &context(1, true)));
        assert_eq!(model.weight, [[1.0 - 0.1 * 2.0]]);
        let mut model = one_weight(1.0);
        let sgd = Sgd {
            lr: 0.1,
            weight_decay: 0.5,
        };
        sgd.update(&mut model, &grads(2.0), &mut (), &context(1, true));
        assert_eq!(model.weight, [[1.0 - 0.1 * (2.0 + 0.5)]]);
    }

    #[test]
    fn momentum_kinds() {
        for (optimizer, second_weight) in [
            // b1 = 1, w1 = 1 − 0.1; b2 = 0.9 + 1, w2 = w1 − 0.1·1.9.
            (SgdMomentum::new(0.1, 0.9), (1.0 - 0.1) - 0.1 * 1.9),
            // w1 = 1 − 0.1·(1 + 0.9); w2 = w1 − 0.1·(1 + 0.9·1.9).
            (
                SgdMomentum::nesterov(0.1, 0.9),
                (1.0 - 0.1 * 1.9) - 0.1 * (1.0 + 0.9 * 1.9),
            ),
        ] {
            let mut model = one_weight(1.0);
            let mut state = <crate::DenseGrads<1, 1>>::zeroed();
            optimizer.update(&mut model, &grads(1.0), &mut state, &context(1, true));
            optimizer.update(&mut model, &grads(1.0), &mut state, &context(2, true));
            assert_eq!(model.weight, [[second_weight]], "{:?}", optimizer.kind);
        }
    }

    #[test]
    fn adam_first_step_moves_by_learning_rate() {
        // With bias correction, Adam's first step is lr · g / (|g| + ε') ≈ lr · sign(g).
        for adam in [Adam::<Libm>::pytorch(0.1), Adam::<Libm>::keras(0.1)] {
            let mut model = one_weight(1.0);
            let mut state = Zeroed::zeroed();
            adam.update(&mut model, &grads(-3.0), &mut state, &context(1, true));
            assert!(
                (model.weight[0][0] - 1.1).abs() < 1e-6,
                "{:?}: {}",
                adam.convention,
                model.weight[0][0]
            );
            assert_eq!(state.0.weight, [[-0.3]]);
        }
    }

    #[test]
    fn checking_pass_writes_nothing() {
        let mut model = one_weight(1.0);
        let mut state = Zeroed::zeroed();
        let adam = Adam::<Libm>::pytorch(0.1);
        assert!(adam.update(&mut model, &grads(1.0), &mut state, &context(1, false)));
        assert_eq!(model, one_weight(1.0));
        assert_eq!(state, Zeroed::zeroed());
    }

    #[test]
    fn overflow_is_reported() {
        let mut model = one_weight(f32::MAX);
        assert!(!Sgd::new(1.0).update(&mut model, &grads(-f32::MAX), &mut (), &context(1, false)));
    }

    #[test]
    fn weight_clip_bounds_parameters() {
        let mut model = one_weight(0.95);
        let clip = UpdateContext {
            weight_clip: Some(1.0),
            ..context(1, true)
        };
        Sgd::new(0.1).update(&mut model, &grads(-2.0), &mut (), &clip);
        assert_eq!(model.weight, [[1.0]]);
        let mut model = one_weight(-0.95);
        Sgd::new(0.1).update(&mut model, &grads(2.0), &mut (), &clip);
        assert_eq!(model.weight, [[-1.0]]);
    }
}
