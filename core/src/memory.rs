//! The memory a model needs, as constants computed from its type.
//!
//! ```
//! use gradwell::{memory::Memory, weather, Adam};
//! const MEMORY: Memory = Memory::of::<weather::Model, Adam, 32>();
//! assert_eq!(MEMORY.parameters, 2883 * 4);
//! assert_eq!(MEMORY.optimizer_state, 2 * 2883 * 4);
//! ```
//!
//! [`Memory::total`] is the model plus a whole [`Trainer`], whose few scalar
//! settings (learning rate, schedule, clipping, task log-variances) are counted in
//! [`Memory::trainer_overhead`]. The unit tests check each figure against
//! `core::mem::size_of` of the real types.

use crate::layer::Layer;
use crate::optim::Optimizer;
use crate::train::Trainer;

/// Bytes needed to infer with and to train a model, by purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Memory {
    /// Parameters and batch-norm statistics: all that inference needs.
    pub parameters: usize,
    /// Gradients of the trainable parameters.
    pub gradients: usize,
    /// Optimizer moments.
    pub optimizer_state: usize,
    /// Activations kept by the forward pass of a batch for the backward pass.
    pub activation_cache: usize,
    /// Outputs of a batch and their gradients.
    pub outputs: usize,
    /// Everything else in the trainer: settings, step counter, uncertainty weights.
    pub trainer_overhead: usize,
    /// Model plus trainer.
    pub total: usize,
}

const F32: usize = core::mem::size_of::<f32>();

impl Memory {
    /// Returns the memory of model `M` trained with optimizer `O` on batches of `B` samples.
    pub const fn of<M: Layer, O: Optimizer, const B: usize>() -> Self {
        let parameters = M::STORED * F32;
        let gradients = M::TRAINABLE * F32;
        let optimizer_state = O::MOMENTS * gradients;
        let activation_cache = (B * M::CACHE_PER_SAMPLE + M::CACHE_FIXED) * F32;
        let outputs = 2 * B * core::mem::size_of::<M::Output>();
        let trainer = core::mem::size_of::<Trainer<M, O, B>>();
        let trainer_overhead = trainer - gradients - optimizer_state - activation_cache - outputs;
        Self {
            parameters,
            gradients,
            optimizer_state,
            activation_cache,
            outputs,
            trainer_overhead,
            total: parameters + trainer,
        }
    }

    /// Bytes that training needs beside the parameters.
    pub const fn training(&self) -> usize {
        self.total - self.parameters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        seq, weather, Adam, BatchNorm, Dense, Frozen, MultiTask, Relu, Residual, Sgd, SgdMomentum,
        Skip,
    };

    /// Upper bound of the trainer's own settings and counters, in bytes.
    const MAX_TRAINER_OVERHEAD: usize = 256;

    fn check<M: Layer, O: Optimizer, const B: usize>() {
        let memory = Memory::of::<M, O, B>();
        assert_eq!(memory.parameters, core::mem::size_of::<M>());
        assert_eq!(memory.gradients, core::mem::size_of::<M::Grads>());
        assert_eq!(
            memory.optimizer_state,
            core::mem::size_of::<O::State<M::Grads>>()
        );
        assert_eq!(memory.activation_cache, core::mem::size_of::<M::Cache<B>>());
        assert_eq!(
            memory.total,
            core::mem::size_of::<M>() + core::mem::size_of::<Trainer<M, O, B>>()
        );
        assert!(memory.trainer_overhead > 0);
        assert!(memory.trainer_overhead <= MAX_TRAINER_OVERHEAD);
    }

    #[test]
    fn figures_match_type_sizes() {
        check::<weather::Model, Adam, 32>();
        check::<weather::Model, Adam, 1>();
        check::<weather::Model, Sgd, 8>();
        type Deep = seq![
            Dense<10, 16, Relu>,
            Residual<seq![Dense<16, 16, Relu>, BatchNorm<16>, Dense<16, 16>], Skip<16>>,
            Dense<16, 2>
        ];
        check::<Deep, SgdMomentum, 16>();
        type FineTune = MultiTask<
            Frozen<seq![Dense<10, 64, Relu>, Dense<64, 32, Relu>]>,
            (Dense<32, 1>, Dense<32, 1>),
        >;
        check::<FineTune, Adam, 32>();
    }

    #[test]
    fn frozen_trunk_needs_less_training_memory() {
        type Full =
            MultiTask<seq![Dense<10, 64, Relu>, Dense<64, 32, Relu>], (Dense<32, 1>, Dense<32, 1>)>;
        type FineTune = MultiTask<
            Frozen<seq![Dense<10, 64, Relu>, Dense<64, 32, Relu>]>,
            (Dense<32, 1>, Dense<32, 1>),
        >;
        let full = Memory::of::<Full, Adam, 32>();
        let fine_tune = Memory::of::<FineTune, Adam, 32>();
        assert_eq!(full.parameters, fine_tune.parameters);
        assert_eq!(fine_tune.gradients, 2 * 33 * 4);
        assert_eq!(
            full.gradients - fine_tune.gradients,
            (10 * 64 + 64 + 64 * 32 + 32) * 4
        );
    }
}
