//! Multi-task blocks: one shared trunk and several task heads.
//!
//! A tuple of heads `(H0, H1, …)` (up to eight) is itself a layer: every head reads the same
//! input, the output of one sample is the tuple of the heads' outputs, and backward sums the
//! heads' input gradients in head order. [`MultiTask`] puts a trunk in front:
//! `MultiTask<T, (H0, H1, H2)>` computes `(h0(t(x)), h1(t(x)), h2(t(x)))`, and the trunk's
//! gradient is the sum of what the heads send back. That sum is how each task's loss shapes the
//! shared representation (Caruana, "Multitask Learning", Machine Learning 28, 1997).
//!
//! A head can itself be a `MultiTask`, so related tasks can share a sub-trunk: a tree of tasks.
//!
//! ```
//! use gradwell::{seq, Dense, Layer, MultiTask, Relu, Sigmoid};
//! type Weather = MultiTask<
//!     seq![Dense<10, 64, Relu>, Dense<64, 32, Relu>],
//!     (Dense<32, 1>, Dense<32, 1>, Dense<32, 1>),
//! >;
//! let model: Weather = gradwell::build(gradwell::Init::PyTorch, 7);
//! let mut y = [([0.0], [0.0], [0.0]); 2];
//! model.forward(&[[0.5; 10]; 2], &mut y);
//! ```
//!
//! Parameter names follow a PyTorch module with attributes `trunk` and `heads` (a `ModuleList`
//! of sequential blocks): `0.trunk.1.weight`, `0.heads.2.0.bias`.

use crate::layer::{Fingerprint, ForwardError, Layer, Mode, TensorInfo};
use crate::residual::child;
use crate::sequential::{chain_backward, chain_forward, chain_forward_train, width, ChainCache};
use crate::tensor::Zeroed;
use crate::{Init, Rng};

/// A shared trunk `T` followed by a tuple of heads `H`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MultiTask<T, H> {
    /// The shared trunk.
    pub trunk: T,
    /// The task heads, as a tuple.
    pub heads: H,
}

impl<T: Zeroed, H: Zeroed> Zeroed for MultiTask<T, H> {
    fn zeroed() -> Self {
        Self {
            trunk: T::zeroed(),
            heads: H::zeroed(),
        }
    }
}

impl<T, H> Layer for MultiTask<T, H>
where
    T: Layer,
    H: Layer<Input = T::Output>,
{
    type Input = T::Input;
    type Output = H::Output;
    type Grads = (T::Grads, H::Grads);
    type Cache<const B: usize> = ChainCache<T, H, B>;

    const TRAINABLE: usize = T::TRAINABLE + H::TRAINABLE;
    const STORED: usize = T::STORED + H::STORED;
    const CACHE_PER_SAMPLE: usize =
        T::CACHE_PER_SAMPLE + H::CACHE_PER_SAMPLE + 2 * width::<T::Output>();
    const CACHE_FIXED: usize = T::CACHE_FIXED + H::CACHE_FIXED;
    const LAYERS: usize = T::LAYERS + H::LAYERS;

    fn forward<const B: usize>(&self, x: &[T::Input; B], y: &mut [H::Output; B]) {
        chain_forward(&self.trunk, &self.heads, x, y);
    }

    fn forward_train<const B: usize>(
        &self,
        x: &[T::Input; B],
        y: &mut [H::Output; B],
        cache: &mut Self::Cache<B>,
        mode: Mode,
    ) -> Result<(), ForwardError> {
        chain_forward_train(&self.trunk, &self.heads, x, y, cache, mode)
    }

    fn backward<const B: usize>(
        &self,
        x: &[T::Input; B],
        y: &[H::Output; B],
        cache: &mut Self::Cache<B>,
        dy: &mut [H::Output; B],
        dx: Option<&mut [T::Input; B]>,
        grads: Option<&mut Self::Grads>,
    ) {
        chain_backward(&self.trunk, &self.heads, x, y, cache, dy, dx, grads);
    }

    fn commit<const B: usize>(&mut self, cache: &Self::Cache<B>) {
        let (trunk, heads) = cache.parts();
        self.trunk.commit(trunk);
        self.heads.commit(heads);
    }

    fn visit_trainable<const K: usize>(
        &mut self,
        grads: &Self::Grads,
        mut moments: [&mut Self::Grads; K],
        f: &mut dyn FnMut(&mut [f32], &[f32], [&mut [f32]; K]),
    ) {
        self.trunk
            .visit_trainable(&grads.0, moments.each_mut().map(|m| &mut m.0), f);
        self.heads
            .visit_trainable(&grads.1, moments.each_mut().map(|m| &mut m.1), f);
    }

    fn layer_grad_norms(grads: &Self::Grads, f: &mut dyn FnMut(f32)) {
        T::layer_grad_norms(&grads.0, f);
        H::layer_grad_norms(&grads.1, f);
    }

    fn visit_tensors(
        &self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &[f32]),
    ) {
        self.trunk
            .visit_tensors(&child(prefix, index, "trunk"), 0, f);
        self.heads
            .visit_tensors(&child(prefix, index, "heads"), 0, f);
    }

    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &mut [f32]),
    ) {
        self.trunk
            .visit_tensors_mut(&child(prefix, index, "trunk"), 0, f);
        self.heads
            .visit_tensors_mut(&child(prefix, index, "heads"), 0, f);
    }

    fn init(&mut self, init: Init, rng: &mut Rng) {
        self.trunk.init(init, rng);
        self.heads.init(init, rng);
    }

    fn fingerprint(hasher: &mut Fingerprint) {
        hasher.write_part("multi_task(", 0);
        T::fingerprint(hasher);
        H::fingerprint(hasher);
        hasher.write_part(")", 0);
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

/// Returns `"{prefix}{index}."`, the prefix of head number `index`.
fn head_prefix(prefix: &str, index: usize) -> crate::layer::Name {
    let mut name = crate::layer::Name::new();
    core::fmt::Write::write_fmt(&mut name, format_args!("{prefix}{index}."))
        .expect("tensor name longer than MAX_NAME_LEN");
    name
}

macro_rules! heads {
    ($($head:ident $index:tt),+) => {
        impl<const N: usize, $($head: Layer<Input = [f32; N]>),+> Layer for ($($head,)+) {
            type Input = [f32; N];
            type Output = ($($head::Output,)+);
            type Grads = ($($head::Grads,)+);
            /// Per head: its cache, its output and a buffer for its output gradient; then a
            /// buffer for one head's input gradient.
            type Cache<const B: usize> = (
                ($(($head::Cache<B>, [$head::Output; B], [$head::Output; B]),)+),
                [[f32; N]; B],
            );

            const TRAINABLE: usize = 0 $(+ $head::TRAINABLE)+;
            const STORED: usize = 0 $(+ $head::STORED)+;
            const CACHE_PER_SAMPLE: usize =
                N $(+ $head::CACHE_PER_SAMPLE + 2 * width::<$head::Output>())+;
            const CACHE_FIXED: usize = 0 $(+ $head::CACHE_FIXED)+;
            const LAYERS: usize = 0 $(+ $head::LAYERS)+;

            fn forward<const B: usize>(&self, x: &[[f32; N]; B], y: &mut [Self::Output; B]) {
                $(
                    let mut out = <[$head::Output; B]>::zeroed();
                    self.$index.forward(x, &mut out);
                    for (yb, ob) in y.iter_mut().zip(&out) {
                        yb.$index = *ob;
                    }
                )+
            }

            fn forward_train<const B: usize>(
                &self,
                x: &[[f32; N]; B],
                y: &mut [Self::Output; B],
                cache: &mut Self::Cache<B>,
                mode: Mode,
            ) -> Result<(), ForwardError> {
                $(
                    let (head_cache, out, _) = &mut cache.0.$index;
                    self.$index.forward_train(x, out, head_cache, mode)?;
                    for (yb, ob) in y.iter_mut().zip(out.iter()) {
                        yb.$index = *ob;
                    }
                )+
                Ok(())
            }

            fn backward<const B: usize>(
                &self,
                x: &[[f32; N]; B],
                _y: &[Self::Output; B],
                cache: &mut Self::Cache<B>,
                dy: &mut [Self::Output; B],
                mut dx: Option<&mut [[f32; N]; B]>,
                mut grads: Option<&mut Self::Grads>,
            ) {
                let mut first = true;
                $(
                    let (head_cache, out, head_dy) = &mut cache.0.$index;
                    for (d, dyb) in head_dy.iter_mut().zip(dy.iter()) {
                        *d = dyb.$index;
                    }
                    let head_grads = grads.as_deref_mut().map(|g| &mut g.$index);
                    match dx.as_deref_mut() {
                        Some(dx) if first => {
                            self.$index.backward(x, out, head_cache, head_dy, Some(dx), head_grads);
                        }
                        Some(dx) => {
                            self.$index.backward(x, out, head_cache, head_dy, Some(&mut cache.1), head_grads);
                            add_into(dx, &cache.1);
                        }
                        None => self.$index.backward(x, out, head_cache, head_dy, None, head_grads),
                    }
                    first = false;
                )+
                let _ = first;
            }

            fn commit<const B: usize>(&mut self, cache: &Self::Cache<B>) {
                $(self.$index.commit(&cache.0.$index.0);)+
            }

            fn visit_trainable<const K: usize>(
                &mut self,
                grads: &Self::Grads,
                mut moments: [&mut Self::Grads; K],
                f: &mut dyn FnMut(&mut [f32], &[f32], [&mut [f32]; K]),
            ) {
                $(self.$index.visit_trainable(&grads.$index, moments.each_mut().map(|m| &mut m.$index), f);)+
            }

            fn layer_grad_norms(grads: &Self::Grads, f: &mut dyn FnMut(f32)) {
                $($head::layer_grad_norms(&grads.$index, f);)+
            }

            fn visit_tensors(&self, prefix: &str, index: usize, f: &mut dyn FnMut(&TensorInfo<'_>, &[f32])) {
                $(self.$index.visit_tensors(&head_prefix(prefix, index + $index), 0, f);)+
            }

            fn visit_tensors_mut(
                &mut self,
                prefix: &str,
                index: usize,
                f: &mut dyn FnMut(&TensorInfo<'_>, &mut [f32]),
            ) {
                $(self.$index.visit_tensors_mut(&head_prefix(prefix, index + $index), 0, f);)+
            }

            fn init(&mut self, init: Init, rng: &mut Rng) {
                $(self.$index.init(init, rng);)+
            }

            fn fingerprint(hasher: &mut Fingerprint) {
                hasher.write_part("heads(", N);
                $($head::fingerprint(hasher);)+
                hasher.write_part(")", 0);
            }
        }
    };
}

heads!(H0 0);
heads!(H0 0, H1 1);
heads!(H0 0, H1 1, H2 2);
heads!(H0 0, H1 1, H2 2, H3 3);
heads!(H0 0, H1 1, H2 2, H3 3, H4 4);
heads!(H0 0, H1 1, H2 2, H3 3, H4 4, H5 5);
heads!(H0 0, H1 1, H2 2, H3 3, H4 4, H5 5, H6 6);
heads!(H0 0, H1 1, H2 2, H3 3, H4 4, H5 5, H6 6, H7 7);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{Relu, Sigmoid, Tanh};
    use crate::gradcheck::check_layer;
    use crate::{seq, BatchNorm, Dense};

    type FourHeads = MultiTask<
        seq![Dense<4, 6, Tanh>, Dense<6, 5, Tanh>],
        (
            Dense<5, 1>,
            Dense<5, 2, Sigmoid>,
            seq![Dense<5, 3, Relu>, Dense<3, 3>],
            Dense<5, 1, Tanh>,
        ),
    >;
    type Tree = MultiTask<
        seq![Dense<3, 5, Tanh>, BatchNorm<5>],
        (
            Dense<5, 1>,
            MultiTask<Dense<5, 4, Tanh>, (Dense<4, 1>, Dense<4, 2>)>,
        ),
    >;

    #[test]
    fn gradients_match_finite_differences() {
        for seed in [41, 42, 43] {
            check_layer::<FourHeads, 3>(seed);
            check_layer::<Tree, 4>(seed);
        }
    }

    #[test]
    fn trunk_gradient_is_sum_of_heads() {
        // Two identical heads must send back twice one head's gradient.
        type One = MultiTask<Dense<2, 2>, (Dense<2, 1>,)>;
        type Two = MultiTask<Dense<2, 2>, (Dense<2, 1>, Dense<2, 1>)>;
        let one: One = crate::build(Init::PyTorch, 5);
        let two = Two {
            trunk: one.trunk,
            heads: (one.heads.0, one.heads.0),
        };
        let x = [[0.3, -0.7], [1.1, 0.2]];

        let mut y1 = [([0.0],); 2];
        let mut c1 = <One as Layer>::Cache::<2>::zeroed();
        one.forward_train(&x, &mut y1, &mut c1, Mode::Train)
            .unwrap();
        let mut g1 = <One as Layer>::Grads::zeroed();
        let mut dx1 = [[0.0; 2]; 2];
        one.backward(
            &x,
            &y1,
            &mut c1,
            &mut [([1.0],); 2],
            Some(&mut dx1),
            Some(&mut g1),
        );

        let mut y2 = [([0.0], [0.0]); 2];
        let mut c2 = <Two as Layer>::Cache::<2>::zeroed();
        two.forward_train(&x, &mut y2, &mut c2, Mode::Train)
            .unwrap();
        let mut g2 = <Two as Layer>::Grads::zeroed();
        let mut dx2 = [[0.0; 2]; 2];
        two.backward(
            &x,
            &y2,
            &mut c2,
            &mut [([1.0], [1.0]); 2],
            Some(&mut dx2),
            Some(&mut g2),
        );

        for (a, b) in
            g1.0.weight
                .as_flattened()
                .iter()
                .zip(g2.0.weight.as_flattened())
        {
            assert_eq!(2.0 * a, *b);
        }
        for (a, b) in dx1.as_flattened().iter().zip(dx2.as_flattened()) {
            assert_eq!(2.0 * a, *b);
        }
    }

    #[test]
    fn names_follow_trunk_and_heads() {
        let model: Tree = crate::build(Init::PyTorch, 1);
        let mut names = std::vec::Vec::new();
        model.visit_tensors("", 0, &mut |info, _| {
            names.push(std::string::String::from(info.name))
        });
        assert_eq!(names[0], "0.trunk.0.weight");
        assert_eq!(names[2], "0.trunk.1.weight");
        assert_eq!(names[6], "0.heads.0.0.weight");
        assert_eq!(names[8], "0.heads.1.0.trunk.0.weight");
        assert_eq!(names[10], "0.heads.1.0.heads.0.0.weight");
        assert_eq!(names[12], "0.heads.1.0.heads.1.0.weight");
    }

    #[test]
    fn memory_constants_match_types() {
        assert_eq!(core::mem::size_of::<FourHeads>(), FourHeads::STORED * 4);
        assert_eq!(
            core::mem::size_of::<<FourHeads as Layer>::Grads>(),
            FourHeads::TRAINABLE * 4
        );
        assert_eq!(
            core::mem::size_of::<<FourHeads as Layer>::Cache<3>>(),
            (3 * FourHeads::CACHE_PER_SAMPLE + FourHeads::CACHE_FIXED) * 4
        );
        assert_eq!(FourHeads::LAYERS, 7);
    }

    extern crate std;
}
