//! A chain of two blocks, `y = second(first(x))`, and the [`seq!`](crate::seq) macro for longer
//! chains.
//!
//! The output type of the first block must equal the input type of the second, so widths that
//! do not match are a compile error. The cache keeps the intermediate activation and a buffer
//! for its gradient.
//!
//! ```
//! use gradwell::{seq, Dense, Layer, Relu};
//! type Mlp = seq![Dense<10, 64, Relu>, Dense<64, 32, Relu>, Dense<32, 2>];
//! assert_eq!(Mlp::TRAINABLE, 10 * 64 + 64 + 64 * 32 + 32 + 32 * 2 + 2);
//! ```

use crate::layer::{Fingerprint, ForwardError, Layer, Mode, TensorInfo};
use crate::tensor::Zeroed;
use crate::{Init, Rng};

/// Two blocks applied one after the other. Longer chains nest: see [`seq!`](crate::seq).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sequential<A, C> {
    /// The block applied first.
    pub first: A,
    /// The block applied to the first block's output.
    pub second: C,
}

/// The type of a chain of blocks: `seq![A, B, C]` is `Sequential<A, Sequential<B, C>>`.
#[macro_export]
macro_rules! seq {
    ($last:ty $(,)?) => { $last };
    ($first:ty, $($rest:ty),+ $(,)?) => {
        $crate::Sequential<$first, $crate::seq![$($rest),+]>
    };
}

/// Values a [`Sequential`] keeps from the forward pass for the backward pass.
pub struct ChainCache<A: Layer, C: Layer, const B: usize> {
    first: A::Cache<B>,
    second: C::Cache<B>,
    middle: [A::Output; B],
    middle_grad: [A::Output; B],
}

impl<A: Layer, C: Layer, const B: usize> ChainCache<A, C, B> {
    /// Returns the caches of the first and the second block.
    pub(crate) fn parts(&self) -> (&A::Cache<B>, &C::Cache<B>) {
        (&self.first, &self.second)
    }
}

impl<A: Layer, C: Layer, const B: usize> Zeroed for ChainCache<A, C, B> {
    fn zeroed() -> Self {
        Self {
            first: Zeroed::zeroed(),
            second: Zeroed::zeroed(),
            middle: Zeroed::zeroed(),
            middle_grad: Zeroed::zeroed(),
        }
    }
}

impl<A: Zeroed, C: Zeroed> Zeroed for Sequential<A, C> {
    fn zeroed() -> Self {
        Self {
            first: A::zeroed(),
            second: C::zeroed(),
        }
    }
}

/// Runs `first` then `second` on a batch in inference mode, with `middle` as scratch.
pub(crate) fn chain_forward<A, C, const B: usize>(
    first: &A,
    second: &C,
    x: &[A::Input; B],
    y: &mut [C::Output; B],
) where
    A: Layer,
    C: Layer<Input = A::Output>,
{
    let mut middle = <[A::Output; B]>::zeroed();
    first.forward(x, &mut middle);
    second.forward(&middle, y);
}

pub(crate) fn chain_forward_train<A, C, const B: usize>(
    first: &A,
    second: &C,
    x: &[A::Input; B],
    y: &mut [C::Output; B],
    cache: &mut ChainCache<A, C, B>,
    mode: Mode,
) -> Result<(), ForwardError>
where
    A: Layer,
    C: Layer<Input = A::Output>,
{
    first.forward_train(x, &mut cache.middle, &mut cache.first, mode)?;
    second.forward_train(&cache.middle, y, &mut cache.second, mode)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn chain_backward<A, C, const B: usize>(
    first: &A,
    second: &C,
    x: &[A::Input; B],
    y: &[C::Output; B],
    cache: &mut ChainCache<A, C, B>,
    dy: &mut [C::Output; B],
    dx: Option<&mut [A::Input; B]>,
    grads: Option<&mut (A::Grads, C::Grads)>,
) where
    A: Layer,
    C: Layer<Input = A::Output>,
{
    let (first_grads, second_grads) = match grads {
        Some((a, c)) => (Some(a), Some(c)),
        None => (None, None),
    };
    // The first block needs the middle gradient only if it trains or must pass one on.
    let needs_middle = dx.is_some() || first_grads.is_some() && A::TRAINABLE > 0;
    let middle_grad = if needs_middle {
        Some(&mut cache.middle_grad)
    } else {
        None
    };
    second.backward(
        &cache.middle,
        y,
        &mut cache.second,
        dy,
        middle_grad,
        second_grads,
    );
    if needs_middle {
        first.backward(
            x,
            &cache.middle,
            &mut cache.first,
            &mut cache.middle_grad,
            dx,
            first_grads,
        );
    }
}

impl<A, C> Layer for Sequential<A, C>
where
    A: Layer,
    C: Layer<Input = A::Output>,
{
    type Input = A::Input;
    type Output = C::Output;
    type Grads = (A::Grads, C::Grads);
    type Cache<const B: usize> = ChainCache<A, C, B>;

    const TRAINABLE: usize = A::TRAINABLE + C::TRAINABLE;
    const STORED: usize = A::STORED + C::STORED;
    const CACHE_PER_SAMPLE: usize =
        A::CACHE_PER_SAMPLE + C::CACHE_PER_SAMPLE + 2 * width::<A::Output>();
    const CACHE_FIXED: usize = A::CACHE_FIXED + C::CACHE_FIXED;
    const LAYERS: usize = A::LAYERS + C::LAYERS;
    const ITEMS: usize = A::ITEMS + C::ITEMS;

    fn forward<const B: usize>(&self, x: &[A::Input; B], y: &mut [C::Output; B]) {
        chain_forward(&self.first, &self.second, x, y);
    }

    fn forward_train<const B: usize>(
        &self,
        x: &[A::Input; B],
        y: &mut [C::Output; B],
        cache: &mut Self::Cache<B>,
        mode: Mode,
    ) -> Result<(), ForwardError> {
        chain_forward_train(&self.first, &self.second, x, y, cache, mode)
    }

    fn backward<const B: usize>(
        &self,
        x: &[A::Input; B],
        y: &[C::Output; B],
        cache: &mut Self::Cache<B>,
        dy: &mut [C::Output; B],
        dx: Option<&mut [A::Input; B]>,
        grads: Option<&mut Self::Grads>,
    ) {
        chain_backward(&self.first, &self.second, x, y, cache, dy, dx, grads);
    }

    fn commit<const B: usize>(&mut self, cache: &Self::Cache<B>) {
        self.first.commit(&cache.first);
        self.second.commit(&cache.second);
    }

    fn visit_trainable<const K: usize>(
        &mut self,
        grads: &Self::Grads,
        mut moments: [&mut Self::Grads; K],
        f: &mut dyn FnMut(&mut [f32], &[f32], [&mut [f32]; K]),
    ) {
        self.first
            .visit_trainable(&grads.0, moments.each_mut().map(|m| &mut m.0), f);
        self.second
            .visit_trainable(&grads.1, moments.each_mut().map(|m| &mut m.1), f);
    }

    fn layer_grad_norms(grads: &Self::Grads, f: &mut dyn FnMut(f32)) {
        A::layer_grad_norms(&grads.0, f);
        C::layer_grad_norms(&grads.1, f);
    }

    fn visit_tensors(
        &self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &[f32]),
    ) {
        self.first.visit_tensors(prefix, index, f);
        self.second.visit_tensors(prefix, index + A::ITEMS, f);
    }

    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &mut [f32]),
    ) {
        self.first.visit_tensors_mut(prefix, index, f);
        self.second.visit_tensors_mut(prefix, index + A::ITEMS, f);
    }

    fn init(&mut self, init: Init, rng: &mut Rng) {
        self.first.init(init, rng);
        self.second.init(init, rng);
    }

    fn fingerprint(hasher: &mut Fingerprint) {
        A::fingerprint(hasher);
        C::fingerprint(hasher);
    }
}

/// Returns the number of `f32` values in one sample of type `T`.
pub(crate) const fn width<T>() -> usize {
    core::mem::size_of::<T>() / core::mem::size_of::<f32>()
}

#[cfg(test)]
mod tests {
    use crate::activation::{Relu, Tanh};
    use crate::gradcheck::check_layer;
    use crate::{Dense, Layer};

    type Mlp = seq![Dense<3, 5, Tanh>, Dense<5, 4, Relu>, Dense<4, 2>];

    #[test]
    fn chain_gradients_match_finite_differences() {
        for seed in [11, 12, 13] {
            check_layer::<Mlp, 3>(seed);
        }
    }

    #[test]
    fn chain_names_follow_sequential_indices() {
        let model: Mlp = crate::build(crate::Init::PyTorch, 1);
        let mut names = std::vec::Vec::new();
        model.visit_tensors("", 0, &mut |info, _| {
            names.push(std::string::String::from(info.name))
        });
        assert_eq!(
            names,
            ["0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"]
        );
    }

    #[test]
    fn memory_constants_match_types() {
        assert_eq!(core::mem::size_of::<Mlp>(), Mlp::STORED * 4);
        assert_eq!(
            core::mem::size_of::<<Mlp as Layer>::Grads>(),
            Mlp::TRAINABLE * 4
        );
        assert_eq!(
            core::mem::size_of::<<Mlp as Layer>::Cache<7>>(),
            (7 * Mlp::CACHE_PER_SAMPLE + Mlp::CACHE_FIXED) * 4
        );
    }

    extern crate std;
}
