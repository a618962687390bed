//! Batch normalisation over `N` features (Ioffe and Szegedy, "Batch Normalization:
//! Accelerating Deep Network Training by Reducing Internal Covariate Shift", ICML 2015).
//!
//! Training mode normalises each feature with the batch's mean `μ` and biased variance `σ²`:
//! `x̂ = (x − μ) / √(σ² + ε)`, `y = γ x̂ + β`, and, once the step is accepted, moves the running
//! statistics towards the batch's. Evaluation mode uses the running statistics instead.
//!
//! Backward in training mode, per feature over a batch of `B` samples:
//! `dγ = Σ dy·x̂`, `dβ = Σ dy`, `dx = γ / (B √(σ² + ε)) · (B·dy − Σ dy − x̂ Σ dy·x̂)`.
//! In evaluation mode `dx = dy · γ / √(running_var + ε)`.
//!
//! The two frameworks' defaults, as presets:
//!
//! | preset | momentum | running update | epsilon | running variance |
//! |---|---|---|---|---|
//! | [`PyTorchBatchNorm`] (`nn.BatchNorm1d`) | 0.1 | `r ← (1 − 0.1) r + 0.1 b` | 1e-5 | unbiased (`σ² · B / (B − 1)`) |
//! | [`KerasBatchNorm`] (`BatchNormalization`) | 0.99 | `r ← 0.99 r + (1 − 0.99) b` | 1e-3 | biased (`σ²`) |
//!
//! Both start at `γ = 1`, `β = 0`, `running_mean = 0`, `running_var = 1`. Training needs a
//! batch of at least two samples; a batch of one is [`ForwardError::BatchTooSmall`].

use core::marker::PhantomData;

use crate::layer::{tensor_name, Fingerprint, ForwardError, Layer, Mode, TensorInfo, TensorKind};
use crate::tensor::{Tensors, Zeroed};
use crate::{Init, Rng};

/// Hyperparameters of a [`BatchNorm`] layer.
pub trait BatchNormConfig: Copy + Default {
    /// Name used in fingerprints.
    const NAME: &'static str;
    /// Weight of the new batch statistic in the running update: `r ← (1 − w) r + w b`.
    const UPDATE_WEIGHT: f32;
    /// Added to the variance before the square root.
    const EPSILON: f32;
    /// `true` to store the unbiased batch variance in `running_var`, as PyTorch does.
    const UNBIASED_RUNNING_VAR: bool;
}

/// PyTorch's `nn.BatchNorm1d` defaults: momentum 0.1, epsilon 1e-5, unbiased running variance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PyTorchBatchNorm;

/// Keras's `BatchNormalization` defaults: momentum 0.99, epsilon 1e-3, biased running variance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KerasBatchNorm;

impl BatchNormConfig for PyTorchBatchNorm {
    const NAME: &'static str = "batch_norm_pytorch";
    const UPDATE_WEIGHT: f32 = 0.1;
    const EPSILON: f32 = 1e-5;
    const UNBIASED_RUNNING_VAR: bool = true;
}

impl BatchNormConfig for KerasBatchNorm {
    const NAME: &'static str = "batch_norm_keras";
    // Keras multiplies by 0.99f32 and 0.01f32; `1.0 - 0.99` in f32 would be 0.0099999905.
    const UPDATE_WEIGHT: f32 = 0.01;
    const EPSILON: f32 = 1e-3;
    const UNBIASED_RUNNING_VAR: bool = false;
}

/// Batch normalisation over `N` features with the hyperparameters `C`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BatchNorm<const N: usize, C = PyTorchBatchNorm> {
    /// Scale `γ`.
    pub gamma: [f32; N],
    /// Shift `β`.
    pub beta: [f32; N],
    /// Running mean, used in evaluation mode.
    pub running_mean: [f32; N],
    /// Running variance, used in evaluation mode.
    pub running_var: [f32; N],
    config: PhantomData<C>,
}

/// Gradients of a [`BatchNorm`] layer.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BatchNormGrads<const N: usize> {
    /// Gradient of `γ`.
    pub gamma: [f32; N],
    /// Gradient of `β`.
    pub beta: [f32; N],
}

/// Values a [`BatchNorm`] layer keeps from the forward pass for the backward pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BatchNormCache<const N: usize> {
    mean: [f32; N],
    /// The batch variance as it enters the running update (unbiased for presets with `UNBIASED_RUNNING_VAR`),
    /// so that [`Layer::commit`] needs no batch size.
    variance: [f32; N],
    inv_std: [f32; N],
    /// 1.0 when the batch's statistics were used, 0.0 when the running ones were.
    batch_statistics: f32,
}

impl<const N: usize, C> BatchNorm<N, C> {
    /// Creates a layer from literal values.
    pub const fn from_parts(
        gamma: [f32; N],
        beta: [f32; N],
        running_mean: [f32; N],
        running_var: [f32; N],
    ) -> Self {
        Self {
            gamma,
            beta,
            running_mean,
            running_var,
            config: PhantomData,
        }
    }
}

impl<const N: usize, C> Zeroed for BatchNorm<N, C> {
    fn zeroed() -> Self {
        Self::from_parts([0.0; N], [0.0; N], [0.0; N], [0.0; N])
    }
}

impl<const N: usize> Zeroed for BatchNormGrads<N> {
    fn zeroed() -> Self {
        Self {
            gamma: [0.0; N],
            beta: [0.0; N],
        }
    }
}

impl<const N: usize> Tensors for BatchNormGrads<N> {
    const LEN: usize = 2 * N;
    fn for_each(&self, f: &mut dyn FnMut(&[f32])) {
        f(&self.gamma);
        f(&self.beta);
    }
    fn for_each_mut(&mut self, f: &mut dyn FnMut(&mut [f32])) {
        f(&mut self.gamma);
        f(&mut self.beta);
    }
}

impl<const N: usize> Zeroed for BatchNormCache<N> {
    fn zeroed() -> Self {
        Self {
            mean: [0.0; N],
            variance: [0.0; N],
            inv_std: [0.0; N],
            batch_statistics: 0.0,
        }
    }
}

impl<const N: usize, C: BatchNormConfig> BatchNorm<N, C> {
    fn normalize<const B: usize>(
        &self,
        x: &[[f32; N]; B],
        y: &mut [[f32; N]; B],
        mean: &[f32; N],
        inv_std: &[f32; N],
    ) {
        for (xb, yb) in x.iter().zip(y.iter_mut()) {
            for j in 0..N {
                yb[j] = (xb[j] - mean[j]) * inv_std[j] * self.gamma[j] + self.beta[j];
            }
        }
    }

    fn running_inv_std(&self) -> [f32; N] {
        core::array::from_fn(|j| 1.0 / libm::sqrtf(self.running_var[j] + C::EPSILON))
    }
}

impl<const N: usize, C: BatchNormConfig> Layer for BatchNorm<N, C> {
    type Input = [f32; N];
    type Output = [f32; N];
    type Grads = BatchNormGrads<N>;
    type Cache<const B: usize> = BatchNormCache<N>;

    const TRAINABLE: usize = 2 * N;
    const STORED: usize = 4 * N;
    const CACHE_PER_SAMPLE: usize = 0;
    const CACHE_FIXED: usize = 3 * N + 1;
    const LAYERS: usize = 1;

    fn forward<const B: usize>(&self, x: &[[f32; N]; B], y: &mut [[f32; N]; B]) {
        self.normalize(x, y, &self.running_mean, &self.running_inv_std());
    }

    fn forward_train<const B: usize>(
        &self,
        x: &[[f32; N]; B],
        y: &mut [[f32; N]; B],
        cache: &mut BatchNormCache<N>,
        mode: Mode,
    ) -> Result<(), ForwardError> {
        if mode == Mode::Eval {
            cache.mean = self.running_mean;
            cache.variance = self.running_var;
            cache.inv_std = self.running_inv_std();
            cache.batch_statistics = 0.0;
            self.normalize(x, y, &cache.mean, &cache.inv_std);
            return Ok(());
        }
        if B < 2 {
            return Err(ForwardError::BatchTooSmall { batch: B });
        }

        let count = B as f32;
        let correction = if C::UNBIASED_RUNNING_VAR {
            B as f32 / (B - 1) as f32
        } else {
            1.0
        };
        for j in 0..N {
            let mut sum = 0.0;
            for xb in x {
                sum += xb[j];
            }
            let mean = sum / count;
            let mut squares = 0.0;
            for xb in x {
                let d = xb[j] - mean;
                squares += d * d;
            }
            let variance = squares / count;
            cache.mean[j] = mean;
            cache.variance[j] = variance * correction;
            cache.inv_std[j] = 1.0 / libm::sqrtf(variance + C::EPSILON);
        }
        cache.batch_statistics = 1.0;
        self.normalize(x, y, &cache.mean, &cache.inv_std);
        Ok(())
    }

    fn backward<const B: usize>(
        &self,
        x: &[[f32; N]; B],
        _y: &[[f32; N]; B],
        cache: &mut BatchNormCache<N>,
        dy: &mut [[f32; N]; B],
        dx: Option<&mut [[f32; N]; B]>,
        grads: Option<&mut BatchNormGrads<N>>,
    ) {
        let count = B as f32;
        let mut sum_dy = [0.0f32; N];
        let mut sum_dy_xhat = [0.0f32; N];
        for (xb, dyb) in x.iter().zip(dy.iter()) {
            for j in 0..N {
                let xhat = (xb[j] - cache.mean[j]) * cache.inv_std[j];
                sum_dy[j] += dyb[j];
                sum_dy_xhat[j] += dyb[j] * xhat;
            }
        }

        if let Some(grads) = grads {
            grads.gamma = sum_dy_xhat;
            grads.beta = sum_dy;
        }

        if let Some(dx) = dx {
            let batch_statistics = cache.batch_statistics != 0.0;
            for ((xb, dyb), dxb) in x.iter().zip(dy.iter()).zip(dx.iter_mut()) {
                for j in 0..N {
                    let scale = self.gamma[j] * cache.inv_std[j];
                    dxb[j] = if batch_statistics {
                        let xhat = (xb[j] - cache.mean[j]) * cache.inv_std[j];
                        scale / count * (count * dyb[j] - sum_dy[j] - xhat * sum_dy_xhat[j])
                    } else {
                        scale * dyb[j]
                    };
                }
            }
        }
    }

    fn commit<const B: usize>(&mut self, cache: &BatchNormCache<N>) {
        if cache.batch_statistics == 0.0 {
            return;
        }
        let w = C::UPDATE_WEIGHT;
        for j in 0..N {
            self.running_mean[j] = (1.0 - w) * self.running_mean[j] + w * cache.mean[j];
            self.running_var[j] = (1.0 - w) * self.running_var[j] + w * cache.variance[j];
        }
    }

    fn visit_trainable<const K: usize>(
        &mut self,
        grads: &BatchNormGrads<N>,
        mut moments: [&mut BatchNormGrads<N>; K],
        f: &mut dyn FnMut(&mut [f32], &[f32], [&mut [f32]; K]),
    ) {
        f(
            &mut self.gamma,
            &grads.gamma,
            moments.each_mut().map(|m| &mut m.gamma[..]),
        );
        f(
            &mut self.beta,
            &grads.beta,
            moments.each_mut().map(|m| &mut m.beta[..]),
        );
    }

    fn layer_grad_norms(grads: &BatchNormGrads<N>, f: &mut dyn FnMut(f32)) {
        f(libm::sqrt(grads.sum_squares()) as f32);
    }

    fn visit_tensors(
        &self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &[f32]),
    ) {
        let shape = [N];
        for (field, values, kind) in [
            ("weight", &self.gamma, TensorKind::Parameter),
            ("bias", &self.beta, TensorKind::Parameter),
            ("running_mean", &self.running_mean, TensorKind::Buffer),
            ("running_var", &self.running_var, TensorKind::Buffer),
        ] {
            let name = tensor_name(prefix, index, field);
            f(
                &TensorInfo {
                    name: &name,
                    shape: &shape,
                    kind,
                    frozen: false,
                },
                values,
            );
        }
    }

    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &mut [f32]),
    ) {
        let shape = [N];
        for (field, values, kind) in [
            ("weight", &mut self.gamma, TensorKind::Parameter),
            ("bias", &mut self.beta, TensorKind::Parameter),
            ("running_mean", &mut self.running_mean, TensorKind::Buffer),
            ("running_var", &mut self.running_var, TensorKind::Buffer),
        ] {
            let name = tensor_name(prefix, index, field);
            f(
                &TensorInfo {
                    name: &name,
                    shape: &shape,
                    kind,
                    frozen: false,
                },
                values,
            );
        }
    }

    fn init(&mut self, _init: Init, _rng: &mut Rng) {
        self.gamma = [1.0; N];
        self.beta = [0.0; N];
        self.running_mean = [0.0; N];
        self.running_var = [1.0; N];
    }

    fn fingerprint(hasher: &mut Fingerprint) {
        hasher.write_part(C::NAME, N);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_layer, check_layer_value};

    #[test]
    fn training_normalizes_with_batch_statistics() {
        let layer: BatchNorm<2> = crate::build(Init::PyTorch, 0);
        let x = [[1.0, 10.0], [3.0, 10.0], [5.0, 16.0], [7.0, 12.0]];
        let mut y = [[0.0; 2]; 4];
        let mut cache = BatchNormCache::zeroed();
        layer
            .forward_train(&x, &mut y, &mut cache, Mode::Train)
            .unwrap();
        // Feature 0: mean 4, biased variance 5.
        let inv_std = 1.0 / libm::sqrtf(5.0 + 1e-5);
        assert_eq!(y[0][0], -3.0 * inv_std);
        assert_eq!(y[3][0], 3.0 * inv_std);
        let mean: f32 = y.iter().map(|r| r[1]).sum::<f32>() / 4.0;
        assert!(
            mean.abs() < 1e-6,
            "feature 1 mean after normalisation: {mean}"
        );
    }

    #[test]
    fn commit_updates_running_statistics_like_pytorch() {
        let mut layer: BatchNorm<1> = crate::build(Init::PyTorch, 0);
        let x = [[1.0], [3.0], [5.0], [7.0]];
        let mut y = [[0.0]; 4];
        let mut cache = BatchNormCache::zeroed();
        layer
            .forward_train(&x, &mut y, &mut cache, Mode::Train)
            .unwrap();
        assert_eq!(
            layer.running_mean,
            [0.0],
            "forward must not touch running statistics"
        );
        layer.commit::<4>(&cache);
        // PyTorch: 0.9·0 + 0.1·4 and 0.9·1 + 0.1·(5·4/3).
        assert_eq!(layer.running_mean, [0.9 * 0.0 + 0.1 * 4.0]);
        assert_eq!(layer.running_var, [0.9 * 1.0 + 0.1 * (5.0 * (4.0 / 3.0))]);
    }

    #[test]
    fn keras_preset_uses_biased_variance() {
        let mut layer: BatchNorm<1, KerasBatchNorm> = crate::build(Init::PyTorch, 0);
        let x = [[1.0], [3.0], [5.0], [7.0]];
        let mut cache = BatchNormCache::zeroed();
        layer
            .forward_train(&x, &mut [[0.0]; 4], &mut cache, Mode::Train)
            .unwrap();
        layer.commit::<4>(&cache);
        assert_eq!(layer.running_var, [0.99 * 1.0 + 0.01 * 5.0]);
    }

    #[test]
    fn batch_of_one_is_an_error() {
        let layer: BatchNorm<3> = crate::build(Init::PyTorch, 0);
        let mut cache = BatchNormCache::zeroed();
        let result =
            layer.forward_train(&[[1.0, 2.0, 3.0]], &mut [[0.0; 3]], &mut cache, Mode::Train);
        assert_eq!(result, Err(ForwardError::BatchTooSmall { batch: 1 }));
        // Evaluation mode works on a single sample.
        assert!(layer
            .forward_train(&[[1.0, 2.0, 3.0]], &mut [[0.0; 3]], &mut cache, Mode::Eval)
            .is_ok());
    }

    #[test]
    fn gradients_match_finite_differences() {
        for seed in [21, 22, 23] {
            let mut layer: BatchNorm<3> = crate::build(Init::PyTorch, seed);
            let mut rng = Rng::new(seed);
            layer
                .gamma
                .iter_mut()
                .for_each(|g| *g = rng.uniform(0.5, 1.5));
            layer
                .beta
                .iter_mut()
                .for_each(|b| *b = rng.uniform(-0.5, 0.5));
            layer.running_var = [0.5, 2.0, 1.5];
            check_layer_value::<_, 4>(&mut layer, seed, Mode::Train);
            check_layer_value::<_, 2>(&mut layer, seed, Mode::Train);
            check_layer_value::<_, 1>(&mut layer, seed, Mode::Eval);
            check_layer::<BatchNorm<5, KerasBatchNorm>, 6>(seed);
        }
    }
}
