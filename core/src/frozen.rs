//! A frozen part: a layer or block whose parameters do not train.
//!
//! `Frozen<L>` runs `L` in evaluation mode (batch normalisation uses and keeps its running
//! statistics, as after PyTorch's `module.eval()` with `requires_grad_(False)`), still passes
//! gradients through to the layers below it, and has no gradients or optimizer moments of its
//! own: its [`Layer::Grads`] is `()`. Freezing the trunk is how a device fine-tunes only its
//! heads within a small RAM budget.

use crate::layer::{Fingerprint, ForwardError, Layer, Mode, TensorInfo};
use crate::tensor::Zeroed;
use crate::{Init, Rng};

/// The layer or block `L` with its parameters frozen.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frozen<L>(pub L);

impl<L: Zeroed> Zeroed for Frozen<L> {
    fn zeroed() -> Self {
        Self(L::zeroed())
    }
}

impl<L: Layer> Layer for Frozen<L> {
    type Input = L::Input;
    type Output = L::Output;
    type Grads = ();
    type Cache<const B: usize> = L::Cache<B>;

    const TRAINABLE: usize = 0;
    const STORED: usize = L::STORED;
    const CACHE_PER_SAMPLE: usize = L::CACHE_PER_SAMPLE;
    const CACHE_FIXED: usize = L::CACHE_FIXED;
    const LAYERS: usize = 0;
    const ITEMS: usize = L::ITEMS;

    fn forward<const B: usize>(&self, x: &[L::Input; B], y: &mut [L::Output; B]) {
        self.0.forward(x, y);
    }

    fn forward_train<const B: usize>(
        &self,
        x: &[L::Input; B],
        y: &mut [L::Output; B],
        cache: &mut L::Cache<B>,
        _mode: Mode,
    ) -> Result<(), ForwardError> {
        self.0.forward_train(x, y, cache, Mode::Eval)
    }

    fn backward<const B: usize>(
        &self,
        x: &[L::Input; B],
        y: &[L::Output; B],
        cache: &mut L::Cache<B>,
        dy: &mut [L::Output; B],
        dx: Option<&mut [L::Input; B]>,
        _grads: Option<&mut ()>,
    ) {
        if dx.is_some() {
            self.0.backward(x, y, cache, dy, dx, None);
        }
    }

    fn commit<const B: usize>(&mut self, _cache: &L::Cache<B>) {}

    fn visit_trainable<const K: usize>(
        &mut self,
        _grads: &(),
        _moments: [&mut (); K],
        _f: &mut dyn FnMut(&mut [f32], &[f32], [&mut [f32]; K]),
    ) {
    }

    fn layer_grad_norms(_grads: &(), _f: &mut dyn FnMut(f32)) {}

    fn visit_tensors(
        &self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &[f32]),
    ) {
        self.0.visit_tensors(prefix, index, &mut |info, values| {
            f(
                &TensorInfo {
                    frozen: true,
                    ..info.clone()
                },
                values,
            )
        });
    }

    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &mut [f32]),
    ) {
        self.0
            .visit_tensors_mut(prefix, index, &mut |info, values| {
                f(
                    &TensorInfo {
                        frozen: true,
                        ..info.clone()
                    },
                    values,
                )
            });
    }

    fn init(&mut self, init: Init, rng: &mut Rng) {
        self.0.init(init, rng);
    }

    fn fingerprint(hasher: &mut Fingerprint) {
        // Freezing changes what a checkpoint's optimizer state covers, so it is part of the
        // structure.
        hasher.write_part("frozen(", 0);
        L::fingerprint(hasher);
        hasher.write_part(")", 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Tanh;
    use crate::gradcheck::check_layer;
    use crate::{seq, BatchNorm, Dense, MultiTask};

    type FineTune =
        MultiTask<Frozen<seq![Dense<3, 4, Tanh>, BatchNorm<4>]>, (Dense<4, 1>, Dense<4, 2>)>;

    #[test]
    fn frozen_trunk_has_no_gradients() {
        assert_eq!(FineTune::TRAINABLE, 4 + 1 + 8 + 2);
        assert_eq!(
            core::mem::size_of::<<FineTune as Layer>::Grads>(),
            FineTune::TRAINABLE * 4
        );
        assert_eq!(FineTune::LAYERS, 2);
    }

    #[test]
    fn gradients_match_finite_differences() {
        for seed in [51, 52] {
            // The check perturbs only unfrozen parameters and the inputs, which still receive
            // gradients through the frozen trunk.
            check_layer::<FineTune, 3>(seed);
            check_layer::<seq![Dense<2, 3, Tanh>, Frozen<Dense<3, 3, Tanh>>, Dense<3, 1>], 2>(seed);
        }
    }

    #[test]
    fn frozen_batch_norm_keeps_running_statistics() {
        let mut model: Frozen<BatchNorm<2>> = crate::build(Init::PyTorch, 0);
        model.0.running_mean = [0.5, -0.5];
        let mut cache = Zeroed::zeroed();
        let x = [[1.0, 2.0], [3.0, 5.0]];
        let mut y = [[0.0; 2]; 2];
        model
            .forward_train(&x, &mut y, &mut cache, Mode::Train)
            .unwrap();
        model.commit::<2>(&cache);
        assert_eq!(model.0.running_mean, [0.5, -0.5]);
        let mut expected = [[0.0; 2]; 2];
        model.0.forward(&x, &mut expected);
        assert_eq!(y, expected);
    }
}
