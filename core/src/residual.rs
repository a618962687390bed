//! Residual block `y = s(x) + f(x)` (He, Zhang, Ren and Sun, "Deep Residual Learning for Image
//! Recognition", CVPR 2016).
//!
//! With the identity shortcut [`Skip`], `Residual<F, Skip<N>>` is `y = x + f(x)`; the types
//! require `f` to map `N` features to `N` features. A projected shortcut for widths that differ
//! is any layer with the right widths, usually a linear one:
//! `Residual<F, Dense<IN, OUT>>` is `y = W x + b + f(x)`.
//!
//! Backward adds the two branches' input gradients, `dx = ds(x)ᵀ dy + df(x)ᵀ dy`, which is why
//! the identity shortcut carries the upstream gradient to the lower layers undiminished.
//!
//! Parameter names: the residual branch is numbered like a sequential block under
//! `{index}.f.` (`3.f.0.weight`), and a projected shortcut under `{index}.shortcut.`
//! (`3.shortcut.0.weight`).

use crate::layer::{Fingerprint, ForwardError, Layer, Mode, Name, TensorInfo};
use crate::sequential::width;
use crate::tensor::Zeroed;
use crate::{Init, Rng};

/// The identity shortcut over `N` features: `y = x`, no parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Skip<const N: usize>;

impl<const N: usize> Zeroed for Skip<N> {
    fn zeroed() -> Self {
        Skip
    }
}

impl<const N: usize> Layer for Skip<N> {
    type Input = [f32; N];
    type Output = [f32; N];
    type Grads = ();
    type Cache<const B: usize> = ();

    const TRAINABLE: usize = 0;
    const STORED: usize = 0;
    const CACHE_PER_SAMPLE: usize = 0;
    const CACHE_FIXED: usize = 0;
    const LAYERS: usize = 0;

    fn forward<const B: usize>(&self, x: &[[f32; N]; B], y: &mut [[f32; N]; B]) {
        *y = *x;
    }

    fn forward_train<const B: usize>(
        &self,
        x: &[[f32; N]; B],
        y: &mut [[f32; N]; B],
        _cache: &mut (),
        _mode: Mode,
    ) -> Result<(), ForwardError> {
        *y = *x;
        Ok(())
    }

    fn backward<const B: usize>(
        &self,
        _x: &[[f32; N]; B],
        _y: &[[f32; N]; B],
        _cache: &mut (),
        dy: &mut [[f32; N]; B],
        dx: Option<&mut [[f32; N]; B]>,
        _grads: Option<&mut ()>,
    ) {
        if let Some(dx) = dx {
            *dx = *dy;
        }
    }

    fn commit<const B: usize>(&mut self, _cache: &()) {}

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
        _prefix: &str,
        _index: usize,
        _f: &mut dyn FnMut(&TensorInfo<'_>, &[f32]),
    ) {
    }

    fn visit_tensors_mut(
        &mut self,
        _prefix: &str,
        _index: usize,
        _f: &mut dyn FnMut(&TensorInfo<'_>, &mut [f32]),
    ) {
    }

    fn init(&mut self, _init: Init, _rng: &mut Rng) {}

    fn fingerprint(hasher: &mut Fingerprint) {
        hasher.write_part("skip", N);
    }
}

/// Residual block `y = s(x) + f(x)` with residual branch `F` and shortcut `S`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Residual<F, S> {
    /// The residual branch `f`.
    pub f: F,
    /// The shortcut `s`: [`Skip`] for the identity, or a projection.
    pub shortcut: S,
}

/// Values a [`Residual`] block keeps from the forward pass for the backward pass.
pub struct ResidualCache<F: Layer, S: Layer, const B: usize> {
    f: F::Cache<B>,
    shortcut: S::Cache<B>,
    f_output: [F::Output; B],
    shortcut_output: [F::Output; B],
    dy_copy: [F::Output; B],
    dx_part: [F::Input; B],
}

impl<F: Layer, S: Layer, const B: usize> Zeroed for ResidualCache<F, S, B> {
    fn zeroed() -> Self {
        Self {
            f: Zeroed::zeroed(),
            shortcut: Zeroed::zeroed(),
            f_output: Zeroed::zeroed(),
            shortcut_output: Zeroed::zeroed(),
            dy_copy: Zeroed::zeroed(),
            dx_part: Zeroed::zeroed(),
        }
    }
}

impl<F: Zeroed, S: Zeroed> Zeroed for Residual<F, S> {
    fn zeroed() -> Self {
        Self {
            f: F::zeroed(),
            shortcut: S::zeroed(),
        }
    }
}

fn add_into<const N: usize, const B: usize>(target: &mut [[f32; N]; B], source: &[[f32; N]; B]) {
    for (t, s) in target
        .as_flattened_mut()
        .iter_mut()
        .zip(source.as_flattened())
    {
        *t += s;
    }
}

impl<F, S, const IN: usize, const OUT: usize> Layer for Residual<F, S>
where
    F: Layer<Input = [f32; IN], Output = [f32; OUT]>,
    S: Layer<Input = [f32; IN], Output = [f32; OUT]>,
{
    type Input = F::Input;
    type Output = F::Output;
    type Grads = (F::Grads, S::Grads);
    type Cache<const B: usize> = ResidualCache<F, S, B>;

    const TRAINABLE: usize = F::TRAINABLE + S::TRAINABLE;
    const STORED: usize = F::STORED + S::STORED;
    const CACHE_PER_SAMPLE: usize =
        F::CACHE_PER_SAMPLE + S::CACHE_PER_SAMPLE + 3 * width::<F::Output>() + width::<F::Input>();
    const CACHE_FIXED: usize = F::CACHE_FIXED + S::CACHE_FIXED;
    const LAYERS: usize = F::LAYERS + S::LAYERS;

    fn forward<const B: usize>(&self, x: &[F::Input; B], y: &mut [F::Output; B]) {
        let mut shortcut = <[F::Output; B]>::zeroed();
        self.shortcut.forward(x, &mut shortcut);
        self.f.forward(x, y);
        add_into(y, &shortcut);
    }

    fn forward_train<const B: usize>(
        &self,
        x: &[F::Input; B],
        y: &mut [F::Output; B],
        cache: &mut Self::Cache<B>,
        mode: Mode,
    ) -> Result<(), ForwardError> {
        self.shortcut
            .forward_train(x, &mut cache.shortcut_output, &mut cache.shortcut, mode)?;
        self.f
            .forward_train(x, &mut cache.f_output, &mut cache.f, mode)?;
        *y = cache.f_output;
        add_into(y, &cache.shortcut_output);
        Ok(())
    }

    fn backward<const B: usize>(
        &self,
        x: &[F::Input; B],
        _y: &[F::Output; B],
        cache: &mut Self::Cache<B>,
        dy: &mut [F::Output; B],
        dx: Option<&mut [F::Input; B]>,
        grads: Option<&mut Self::Grads>,
    ) {
        let (f_grads, shortcut_grads) = match grads {
            Some((f, s)) => (Some(f), Some(s)),
            None => (None, None),
        };
        cache.dy_copy = *dy;
        match dx {
            Some(dx) => {
                self.shortcut.backward(
                    x,
                    &cache.shortcut_output,
                    &mut cache.shortcut,
                    &mut cache.dy_copy,
                    Some(dx),
                    shortcut_grads,
                );
                self.f.backward(
                    x,
                    &cache.f_output,
                    &mut cache.f,
                    dy,
                    Some(&mut cache.dx_part),
                    f_grads,
                );
                add_into(dx, &cache.dx_part);
            }
            None => {
                self.shortcut.backward(
                    x,
                    &cache.shortcut_output,
                    &mut cache.shortcut,
                    &mut cache.dy_copy,
                    None,
                    shortcut_grads,
                );
                self.f
                    .backward(x, &cache.f_output, &mut cache.f, dy, None, f_grads);
            }
        }
    }

    fn commit<const B: usize>(&mut self, cache: &Self::Cache<B>) {
        self.f.commit(&cache.f);
        self.shortcut.commit(&cache.shortcut);
    }

    fn visit_trainable<const K: usize>(
        &mut self,
        grads: &Self::Grads,
        mut moments: [&mut Self::Grads; K],
        f: &mut dyn FnMut(&mut [f32], &[f32], [&mut [f32]; K]),
    ) {
        self.f
            .visit_trainable(&grads.0, moments.each_mut().map(|m| &mut m.0), f);
        self.shortcut
            .visit_trainable(&grads.1, moments.each_mut().map(|m| &mut m.1), f);
    }

    fn layer_grad_norms(grads: &Self::Grads, f: &mut dyn FnMut(f32)) {
        F::layer_grad_norms(&grads.0, f);
        S::layer_grad_norms(&grads.1, f);
    }

    fn visit_tensors(
        &self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &[f32]),
    ) {
        self.f.visit_tensors(&child(prefix, index, "f"), 0, f);
        self.shortcut
            .visit_tensors(&child(prefix, index, "shortcut"), 0, f);
    }

    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &mut [f32]),
    ) {
        self.f.visit_tensors_mut(&child(prefix, index, "f"), 0, f);
        self.shortcut
            .visit_tensors_mut(&child(prefix, index, "shortcut"), 0, f);
    }

    fn init(&mut self, init: Init, rng: &mut Rng) {
        self.f.init(init, rng);
        self.shortcut.init(init, rng);
    }

    fn fingerprint(hasher: &mut Fingerprint) {
        hasher.write_part("residual(", 0);
        F::fingerprint(hasher);
        S::fingerprint(hasher);
        hasher.write_part(")", 0);
    }
}

/// Returns `"{prefix}{index}.{field}."`, the prefix of a nested block.
pub(crate) fn child(prefix: &str, index: usize, field: &str) -> Name {
    let mut name = crate::layer::tensor_name(prefix, index, field);
    name.push('.')
        .expect("tensor name longer than MAX_NAME_LEN");
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{Relu, Tanh};
    use crate::gradcheck::check_layer;
    use crate::{seq, BatchNorm, Dense};

    type Block = Residual<seq![Dense<4, 4, Tanh>, BatchNorm<4>, Dense<4, 4>], Skip<4>>;
    type Projected = Residual<seq![Dense<3, 5, Relu>, Dense<5, 2>], Dense<3, 2>>;

    #[test]
    fn identity_shortcut_adds_input() {
        let block = Residual {
            f: Dense::<2, 2>::from_parts([[1.0, 0.0], [0.0, 2.0]], [0.0, 1.0]),
            shortcut: Skip::<2>,
        };
        let mut y = [[0.0; 2]];
        block.forward(&[[1.0, 3.0]], &mut y);
        assert_eq!(y, [[2.0, 10.0]]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        for seed in [31, 32, 33] {
            check_layer::<Block, 4>(seed);
            check_layer::<Projected, 3>(seed);
            check_layer::<seq![Block, Block], 3>(seed);
        }
    }

    #[test]
    fn names_of_branches() {
        let model: seq![Dense<3, 4>, Block] = crate::build(Init::PyTorch, 1);
        let mut names = std::vec::Vec::new();
        model.visit_tensors("", 0, &mut |info, _| {
            names.push(std::string::String::from(info.name))
        });
        assert_eq!(names[2], "1.f.0.weight");
        assert_eq!(names[4], "1.f.1.weight");
        assert_eq!(names[6], "1.f.1.running_mean");
        let projected: Projected = crate::build(Init::PyTorch, 1);
        let mut names = std::vec::Vec::new();
        projected.visit_tensors("", 0, &mut |info, _| {
            names.push(std::string::String::from(info.name))
        });
        assert_eq!(names.last().map(|s| s.as_str()), Some("0.shortcut.0.bias"));
    }

    #[test]
    fn memory_constants_match_types() {
        assert_eq!(core::mem::size_of::<Projected>(), Projected::STORED * 4);
        assert_eq!(
            core::mem::size_of::<<Projected as Layer>::Cache<5>>(),
            (5 * Projected::CACHE_PER_SAMPLE + Projected::CACHE_FIXED) * 4
        );
    }

    extern crate std;
}
