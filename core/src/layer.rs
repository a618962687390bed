//! The [`Layer`] trait: forward, backward and parameter access for every building block.
//!
//! A model is a type built from layers ([`Dense`](crate::Dense),
//! [`BatchNorm`](crate::BatchNorm)) and blocks ([`Sequential`](crate::Sequential),
//! [`Residual`](crate::Residual), [`MultiTask`](crate::MultiTask), [`Frozen`](crate::Frozen)).
//! The model value holds only what inference needs: parameters and batch-norm running
//! statistics. Everything training adds lives in separate, equally fixed-size types named by
//! the trait: [`Layer::Grads`] for gradients (and, in the same shape, optimizer moments) and
//! [`Layer::Cache`] for the activations a batch of `B` samples leaves for the backward pass.
//!
//! Widths are part of the types: a layer's [`Layer::Input`] must equal the previous layer's
//! [`Layer::Output`], so a mismatch does not compile.

use core::fmt::Write;

use crate::tensor::{Tensors, Zeroed};
use crate::{Init, Rng};

/// Maximum length of a parameter name, in bytes (for example `trunk.2.f.1.running_mean`).
pub const MAX_NAME_LEN: usize = 64;

/// A parameter or buffer name in PyTorch `state_dict` style, such as `trunk.0.weight`.
pub type Name = heapless::String<MAX_NAME_LEN>;

/// Batch-normalisation behaviour of a training forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mode {
    /// Normalise with the batch's own statistics (PyTorch `model.train()`).
    Train,
    /// Normalise with the running statistics and leave them alone (PyTorch `model.eval()`);
    /// used for frozen parts.
    Eval,
}

/// Error from a training forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ForwardError {
    /// Batch normalisation in training mode needs at least two samples to estimate a
    /// variance; `batch` is the batch size that was used.
    BatchTooSmall {
        /// The batch size that was used.
        batch: usize,
    },
}

impl core::fmt::Display for ForwardError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ForwardError::BatchTooSmall { batch } => write!(
                f,
                "batch normalisation needs a batch of at least 2 samples in training mode, got {batch}; \
                 train with a larger batch or freeze the batch-norm layer"
            ),
        }
    }
}

impl core::error::Error for ForwardError {}

/// Kind of a named tensor, for checkpoints and weight interchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TensorKind {
    /// A parameter the optimizer updates (unless its layer is frozen).
    Parameter,
    /// A statistic kept beside the parameters, such as `running_mean`.
    Buffer,
}

/// Description of one named tensor of a model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo<'a> {
    /// Name in PyTorch `state_dict` style.
    pub name: &'a str,
    /// Shape, outermost first (`[OUT, IN]` for a dense weight, `[N]` for a vector).
    pub shape: &'a [usize],
    /// Parameter or buffer.
    pub kind: TensorKind,
    /// `true` when the tensor belongs to a frozen part.
    pub frozen: bool,
}

/// A building block with a forward and a backward pass over a batch of `B` samples.
///
/// Backward overwrites the gradients (it does not add to them), and it may overwrite `dy`.
pub trait Layer {
    /// One sample's input.
    type Input: Copy + Zeroed;
    /// One sample's output.
    type Output: Copy + Zeroed;
    /// Gradients of the trainable parameters, and the shape of each optimizer moment; `()` for
    /// a frozen part.
    type Grads: Tensors;
    /// Values a training forward pass over `B` samples keeps for the backward pass.
    type Cache<const B: usize>: Zeroed;

    /// Number of trainable parameters (zero when frozen).
    const TRAINABLE: usize;
    /// Number of parameters and buffers stored in the model value, trainable or not.
    const STORED: usize;
    /// `f32` values in the cache for each sample of a batch.
    const CACHE_PER_SAMPLE: usize;
    /// `f32` values in the cache independent of the batch size.
    const CACHE_FIXED: usize;
    /// Number of trainable layers, each with its own entry in a gradient-norm report.
    const LAYERS: usize;
    /// Number of positions the block takes in a [`Sequential`](crate::Sequential), for names.
    const ITEMS: usize = 1;

    /// Runs inference on a batch: batch normalisation uses its running statistics.
    fn forward<const B: usize>(&self, x: &[Self::Input; B], y: &mut [Self::Output; B]);

    /// Runs a training forward pass and keeps in `cache` what [`Layer::backward`] needs.
    ///
    /// # Errors
    /// [`ForwardError::BatchTooSmall`] when batch normalisation trains on fewer than 2 samples.
    fn forward_train<const B: usize>(
        &self,
        x: &[Self::Input; B],
        y: &mut [Self::Output; B],
        cache: &mut Self::Cache<B>,
        mode: Mode,
    ) -> Result<(), ForwardError>;

    /// Runs the backward pass for the batch last seen by [`Layer::forward_train`].
    ///
    /// `x` and `y` are that pass's input and output, `dy` the loss gradient with respect to `y`
    /// (it may be overwritten). Writes the gradient with respect to `x` into `dx` when given,
    /// and the parameter gradients into `grads` when given.
    fn backward<const B: usize>(
        &self,
        x: &[Self::Input; B],
        y: &[Self::Output; B],
        cache: &mut Self::Cache<B>,
        dy: &mut [Self::Output; B],
        dx: Option<&mut [Self::Input; B]>,
        grads: Option<&mut Self::Grads>,
    );

    /// Applies what a training pass changes besides the parameters: the batch-norm running
    /// statistics. Called once the step is known to be good.
    fn commit<const B: usize>(&mut self, cache: &Self::Cache<B>);

    /// Calls `f` on each trainable tensor with its gradient and its `K` optimizer moments, in a
    /// fixed order.
    #[allow(clippy::type_complexity)]
    fn visit_trainable<const K: usize>(
        &mut self,
        grads: &Self::Grads,
        moments: [&mut Self::Grads; K],
        f: &mut dyn FnMut(&mut [f32], &[f32], [&mut [f32]; K]),
    );

    /// Calls `f` with the gradient norm of each trainable layer, in the order of
    /// [`Layer::visit_trainable`].
    fn layer_grad_norms(grads: &Self::Grads, f: &mut dyn FnMut(f32));

    /// Calls `f` on every named tensor the model value stores, parameters and buffers.
    ///
    /// `prefix` is the path of the enclosing block (such as `"trunk."`) and `index` the
    /// position of this block inside it.
    fn visit_tensors(&self, prefix: &str, index: usize, f: &mut dyn FnMut(&TensorInfo<'_>, &[f32]));

    /// Calls `f` on every named tensor for writing, in the order of [`Layer::visit_tensors`].
    fn visit_tensors_mut(
        &mut self,
        prefix: &str,
        index: usize,
        f: &mut dyn FnMut(&TensorInfo<'_>, &mut [f32]),
    );

    /// Initialises the parameters with `init`, drawing from `rng`, and resets the buffers.
    fn init(&mut self, init: Init, rng: &mut Rng);

    /// Feeds the structure (layer kinds, widths, activations, freezing) into a fingerprint.
    fn fingerprint(hasher: &mut Fingerprint);
}

/// Creates a model of type `L` with its parameters initialised by `init` from `seed`.
///
/// The model is built on the stack; on a small device, create it in a `static` with
/// [`Zeroed::zeroed`] and call [`Layer::init`] instead.
pub fn build<L: Layer + Zeroed>(init: Init, seed: u64) -> L {
    let mut model = L::zeroed();
    model.init(init, &mut Rng::new(seed));
    model
}

/// Returns `"{prefix}{index}.{field}"`.
///
/// # Panics
/// When the name is longer than [`MAX_NAME_LEN`] bytes, which only a model nested more deeply
/// than any realistic microcontroller model reaches.
pub fn tensor_name(prefix: &str, index: usize, field: &str) -> Name {
    let mut name = Name::new();
    write!(name, "{prefix}{index}.{field}").expect("tensor name longer than MAX_NAME_LEN");
    name
}

/// FNV-1a hash of a model's structure, used to check that a checkpoint fits a model type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Self::new()
    }
}

impl Fingerprint {
    /// Starts a fingerprint.
    pub const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    /// Mixes `bytes` into the fingerprint.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Mixes a tag and a width into the fingerprint.
    pub fn write_part(&mut self, tag: &str, width: usize) {
        self.write(tag.as_bytes());
        self.write(&(width as u64).to_le_bytes());
    }

    /// Returns the hash.
    pub const fn finish(&self) -> u64 {
        self.0
    }

    /// Returns the fingerprint of the model type `L`.
    pub fn of<L: Layer>() -> u64 {
        let mut hasher = Self::new();
        L::fingerprint(&mut hasher);
        hasher.finish()
    }
}
