//! Fully connected layer with an activation.
//!
//! `y = f(W x + b)` with `W` of shape `[OUT, IN]` (PyTorch's `nn.Linear` layout) and `b` of
//! shape `[OUT]`. For a batch with upstream gradient `dy`, the backward pass computes
//!
//! - `dz = dy ⊙ f'(z)`, with `f'` taken from the output `y` (see [`activation`](crate::activation)),
//! - `dW = Σ_batch dz xᵀ`, `db = Σ_batch dz`, `dx = Wᵀ dz`.
//!
//! The batch sums run from the first sample to the last; the dot products run in the fixed
//! order of [`dot`](crate::dot::dot()). The defaults for initialisation are in [`Init`].

use core::marker::PhantomData;

use crate::activation::{Activation, Identity};
use crate::dot::dot;
use crate::layer::{tensor_name, Fingerprint, ForwardError, Layer, Mode, TensorInfo, TensorKind};
use crate::tensor::{Tensors, Zeroed};
use crate::{Init, Rng};

/// Fully connected layer `IN → OUT` followed by the activation `A`.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Dense<const IN: usize, const OUT: usize, A = Identity> {
    /// Weight matrix, `OUT` rows of `IN` values.
    pub weight: [[f32; IN]; OUT],
    /// Bias vector.
    pub bias: [f32; OUT],
    activation: PhantomData<A>,
}

/// Gradients of a [`Dense`] layer, in the same shape as its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DenseGrads<const IN: usize, const OUT: usize> {
    /// Gradient of the weight matrix.
    pub weight: [[f32; IN]; OUT],
    /// Gradient of the bias.
    pub bias: [f32; OUT],
}

impl<const IN: usize, const OUT: usize, A> Dense<IN, OUT, A> {
    /// Creates a layer from literal weights and biases.
    pub const fn from_parts(weight: [[f32; IN]; OUT], bias: [f32; OUT]) -> Self {
        Self {
            weight,
            bias,
            activation: PhantomData,
        }
    }
}

impl<const IN: usize, const OUT: usize, A> Zeroed for Dense<IN, OUT, A> {
    fn zeroed() -> Self {
        Self::from_parts(Zeroed::zeroed(), Zeroed::zeroed())
    }
}

impl<const IN: usize, const OUT: usize> Zeroed for DenseGrads<IN, OUT> {
    fn zeroed() -> Self {
        Self {
            weight: Zeroed::zeroed(),
            bias: Zeroed::zeroed(),
        }
    }
}

impl<const IN: usize, const OUT: usize> Tensors for DenseGrads<IN, OUT> {
    const LEN: usize = IN * OUT + OUT;
    fn for_each(&self, f: &mut dyn FnMut(&[f32])) {
        f(self.weight.as_flattened());
        f(&self.bias);
    }
    fn for_each_mut(&mut self, f: &mut dyn FnMut(&mut [f32])) {
        f(self.weight.as_flattened_mut());
        f(&mut self.bias);
    }
}

impl<const IN: usize, const OUT: usize, A: Activation> Dense<IN, OUT, A> {
    fn forward_sample(&self, x: &[f32; IN], y: &mut [f32; OUT]) {
        for ((out, row), b) in y.iter_mut().zip(&self.weight).zip(&self.bias) {
            *out = A::forward(dot(row, x) + b);
        }
    }
}

impl<const IN: usize, const OUT: usize, A: Activation> Layer for Dense<IN, OUT, A> {
    type Input = [f32; IN];
    type Output = [f32; OUT];
    type Grads = DenseGrads<IN, OUT>;
    type Cache<const B: usize> = ();

    const TRAINABLE: usize = IN * OUT + OUT;
    const STORED: usize = IN * OUT + OUT;
    const CACHE_PER_SAMPLE: usize = 0;
    const CACHE_FIXED: usize = 0;
    const LAYERS: usize = 1;

    fn forward<const B: usize>(&self, x: &[[f32; IN]; B], y: &mut [[f32; OUT]; B]) {
        for (xb, yb) in x.iter().zip(y.iter_mut()) {
            self.forward_sample(xb, yb);
        }
    }

    fn forward_train<const B: usize>(
        &self,
        x: &[[f32; IN]; B],
        y: &mut [[f32; OUT]; B],
        _cache: &mut (),
        _mode: Mode,
    ) -> Result<(), ForwardError> {
        self.forward(x, y);
        Ok(())
    }

    fn backward<const B: usize>(
        &self,
        x: &[[f32; IN]; B],
        y: &[[f32; OUT]; B],
        _cache: &mut (),
        dy: &mut [[f32; OUT]; B],
        dx: Option<&mut [[f32; IN]; B]>,
        grads: Option<&mut DenseGrads<IN, OUT>>,
    ) {
        // dz = dy ⊙ f'(z), in place.
        for (dyb, yb) in dy.iter_mut().zip(y) {
            for (d, &out) in dyb.iter_mut().zip(yb) {
                *d *= A::derivative(out);
            }
        }
        let dz = &*dy;

        // dW[o] = Σ_b dz[b][o] · x[b], db[o] = Σ_b dz[b][o].
        if let Some(grads) = grads {
            for o in 0..OUT {
                let row = &mut grads.weight[o];
                row.fill(0.0);
                let mut bias = 0.0;
                for (dzb, xb) in dz.iter().zip(x) {
                    let g = dzb[o];
                    for (w, &xi) in row.iter_mut().zip(xb) {
                        *w += g * xi;
                    }
                    bias += g;
                }
                grads.bias[o] = bias;
            }
        }

        // dx[b] = Σ_o dz[b][o] · W[o].
        if let Some(dx) = dx {
            for (dxb, dzb) in dx.iter_mut().zip(dz) {
                dxb.fill(0.0);
                for (&g, row) in dzb.iter().zip(&self.weight) {
                    for (d, &w) in dxb.iter_mut().zip(row) {
                        *d += g * w;
                    }
                }
            }
        }
    }

    fn commit<const B: usize>(&mut self, _cache: &()) {}

    fn visit_trainable<const K: usize>(
        &mut self,
        grads: &DenseGrads<IN, OUT>,
        mut moments: [&mut DenseGrads<IN, OUT>; K],
        f: &mut dyn FnMut(&mut [f32], &[f32], [&mut [f32]; K]),
    ) {
        f(
            self.weight.as_flattened_mut(),
            grads.weight.as_flattened(),
            moments.each_mut().map(|m| m.weight.as_flattened_mut()),
        );
        f(
            &mut self.bias,
            &grads.bias,
            moments.each_mut().map(|m| &mut m.bias[..]),
        );
    }

    fn layer_grad_norms(grads: &DenseGrads<IN, OUT>, f: &mut dyn FnMut(f32)) {
        f(libm::sqrt(grads.sum_squares()) as f32);
    }

    fn visit_tensors(
        &self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &[f32]),
    ) {
        let weight = tensor_name(prefix, index, "weight");
        let bias = tensor_name(prefix, index, "bias");
        f(&info(&weight, &[OUT, IN]), self.weight.as_flattened());
        f(&info(&bias, &[OUT]), &self.bias);
    }

    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &mut [f32]),
    ) {
        let weight = tensor_name(prefix, index, "weight");
        let bias = tensor_name(prefix, index, "bias");
        f(&info(&weight, &[OUT, IN]), self.weight.as_flattened_mut());
        f(&info(&bias, &[OUT]), &mut self.bias);
    }

    fn init(&mut self, init: Init, rng: &mut Rng) {
        init.fill_dense(&mut self.weight, &mut self.bias, rng);
    }

    fn fingerprint(hasher: &mut Fingerprint) {
        hasher.write_part("dense", IN);
        hasher.write_part(A::NAME, OUT);
    }
}

fn info<'a>(name: &'a str, shape: &'a [usize]) -> TensorInfo<'a> {
    TensorInfo {
        name,
        shape,
        kind: TensorKind::Parameter,
        frozen: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{Relu, Tanh};
    use crate::gradcheck::check_layer;

    #[test]
    fn forward_literal_weights() {
        let layer = Dense::<2, 3, Relu>::from_parts(
            [[1.0, 2.0], [-1.0, 0.5], [0.0, -3.0]],
            [0.5, 0.0, 1.0],
        );
        let mut y = [[0.0; 3]; 2];
        layer.forward(&[[1.0, 1.0], [2.0, -1.0]], &mut y);
        assert_eq!(y, [[3.5, 0.0, 0.0], [0.5, 0.0, 4.0]]);
    }

    #[test]
    fn backward_literal_weights() {
        let layer = Dense::<2, 2>::from_parts([[1.0, 2.0], [3.0, 4.0]], [0.0, 0.0]);
        let x = [[1.0, -1.0], [0.5, 2.0]];
        let mut y = [[0.0; 2]; 2];
        layer.forward(&x, &mut y);
        let mut dy = [[1.0, 0.0], [0.0, 2.0]];
        let mut dx = [[0.0; 2]; 2];
        let mut grads = DenseGrads::zeroed();
        layer.backward(&x, &y, &mut (), &mut dy, Some(&mut dx), Some(&mut grads));
        assert_eq!(grads.weight, [[1.0, -1.0], [1.0, 4.0]]);
        assert_eq!(grads.bias, [1.0, 2.0]);
        assert_eq!(dx, [[1.0, 2.0], [6.0, 8.0]]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        for seed in [1, 2, 3] {
            check_layer::<Dense<5, 4, Tanh>, 3>(seed);
            check_layer::<Dense<9, 3>, 2>(seed);
            check_layer::<Dense<4, 6, crate::activation::Sigmoid>, 1>(seed);
        }
    }

    #[test]
    fn memory_matches_type_size() {
        type L = Dense<10, 64, Relu>;
        assert_eq!(core::mem::size_of::<L>(), L::STORED * 4);
        assert_eq!(core::mem::size_of::<DenseGrads<10, 64>>(), L::TRAINABLE * 4);
    }
}
