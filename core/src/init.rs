//! Weight initialisers with the frameworks' defaults.
//!
//! | scheme | weight | bias | used by |
//! |---|---|---|---|
//! | [`Init::PyTorch`] | `U(−1/√fan_in, 1/√fan_in)` | `U(−1/√fan_in, 1/√fan_in)` | `torch.nn.Linear` (Kaiming uniform with `a = √5`) |
//! | [`Init::GlorotUniform`] | `U(−√(6/(fan_in + fan_out)), +…)` | `0` | Keras `Dense` (`glorot_uniform`, `zeros`) |
//!
//! Batch normalisation always starts at `gamma = 1`, `beta = 0`, `running_mean = 0`,
//! `running_var = 1`, as in both frameworks. The numbers come from [`Rng`], so a seed gives the
//! same weights on every target, but not the same weights as PyTorch's or Keras's own generator:
//! to reproduce a framework's run bit for bit, load its initial weights.

use crate::Rng;

/// Weight initialisation scheme.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Init {
    /// `torch.nn.Linear`'s default: weight and bias from `U(−1/√fan_in, 1/√fan_in)`.
    #[default]
    PyTorch,
    /// Keras's default: Glorot (Xavier) uniform weights, zero bias.
    GlorotUniform,
}

impl Init {
    /// Fills the weight matrix (`OUT` rows of `IN`) and the bias of a dense layer.
    pub fn fill_dense<const IN: usize, const OUT: usize>(
        self,
        weight: &mut [[f32; IN]; OUT],
        bias: &mut [f32; OUT],
        rng: &mut Rng,
    ) {
        match self {
            Init::PyTorch => {
                let bound = 1.0 / libm::sqrtf(IN as f32);
                weight
                    .as_flattened_mut()
                    .iter_mut()
                    .for_each(|w| *w = rng.uniform(-bound, bound));
                bias.iter_mut()
                    .for_each(|b| *b = rng.uniform(-bound, bound));
            }
            Init::GlorotUniform => {
                let limit = libm::sqrtf(6.0 / (IN + OUT) as f32);
                weight
                    .as_flattened_mut()
                    .iter_mut()
                    .for_each(|w| *w = rng.uniform(-limit, limit));
                bias.fill(0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pytorch_bounds() {
        let mut w = [[0.0f32; 16]; 8];
        let mut b = [0.0f32; 8];
        Init::PyTorch.fill_dense(&mut w, &mut b, &mut Rng::new(1));
        let bound = 0.25;
        assert!(w.as_flattened().iter().all(|v| v.abs() <= bound));
        assert!(w.as_flattened().iter().any(|v| v.abs() > 0.2));
        assert!(b.iter().all(|v| v.abs() <= bound) && b.iter().any(|v| *v != 0.0));
    }

    #[test]
    fn glorot_bounds() {
        let mut w = [[0.0f32; 10]; 14];
        let mut b = [1.0f32; 14];
        Init::GlorotUniform.fill_dense(&mut w, &mut b, &mut Rng::new(1));
        let limit = 0.5;
        assert!(w.as_flattened().iter().all(|v| v.abs() <= limit));
        assert!(w.as_flattened().iter().any(|v| v.abs() > 0.45));
        assert_eq!(b, [0.0; 14]);
    }
}
