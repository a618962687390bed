//! Heap-free training of small neural networks on microcontrollers.
//!
//! gradwell trains and runs networks with batch normalisation, residual connections and
//! several task heads on devices without a heap. A model is a Rust type. Every buffer it needs
//! (parameters, gradients, optimizer state, activations for a batch of `B` samples) has a size
//! fixed at compile time, and widths that do not match do not compile.
//!
//! The crate is `#![no_std]`, uses no allocator and no `unsafe`, and computes with `libm`, so
//! the same seed and data give the same bits on a desktop and on a Cortex-M.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod activation;
pub mod batch_norm;
pub mod checkpoint;
pub mod clip;
pub mod dense;
pub mod dot;
pub mod frozen;
pub mod init;
pub mod layer;
pub mod loss;
pub mod math;
pub mod memory;
pub mod multi_task;
pub mod objective;
pub mod optim;
pub mod residual;
pub mod rng;
pub mod scale;
pub mod schedule;
pub mod sequential;
pub mod tensor;
pub mod train;
pub mod weather;

#[cfg(test)]
mod gradcheck;

pub use activation::{Activation, Identity, LeakyRelu, Relu, Sigmoid, Tanh};
pub use batch_norm::{BatchNorm, BatchNormGrads, KerasBatchNorm, PyTorchBatchNorm};
pub use clip::GradientClip;
pub use dense::{Dense, DenseGrads};
pub use frozen::Frozen;
pub use init::Init;
pub use layer::{build, Fingerprint, ForwardError, Layer, Mode, TensorInfo, TensorKind};
pub use loss::{BinaryCrossEntropy, Huber, Loss, Mae, Mse, SoftmaxCrossEntropy};
pub use math::{Libm, Sqrt};
pub use multi_task::MultiTask;
pub use objective::{Objective, Task, Weighting};
pub use optim::{Adam, Optimizer, Sgd, SgdMomentum};
pub use residual::{Residual, Skip};
pub use rng::Rng;
pub use scale::Standardizer;
pub use schedule::{Decay, Schedule};
pub use sequential::Sequential;
pub use tensor::{Tensors, Zeroed};
pub use train::{StepError, StepReport, Trainer};

/// Compiles and runs the Rust examples of the repository's README.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// Checks at compile time that models, reports and errors can be logged with defmt.
#[cfg(feature = "defmt")]
#[allow(dead_code)]
fn defmt_formats_public_types() {
    fn format<T: defmt::Format>() {}
    format::<weather::Model>();
    format::<StepReport>();
    format::<StepError>();
    format::<memory::Memory>();
    format::<Standardizer<3>>();
    format::<Residual<Dense<2, 2>, Skip<2>>>();
    format::<Frozen<BatchNorm<2, KerasBatchNorm>>>();
}
