//! Generic runners behind the cases: one forward and backward pass of a layer, or several
//! training steps, each handing every resulting value to a [`Sink`].

use core::fmt::Write;

use gradwell::layer::Name;
use gradwell::objective::Objective;
use gradwell::{Layer, Mode, Optimizer, Rng, StepReport, TensorKind, Tensors, Trainer, Zeroed};

use crate::Sink;

/// Most trainable tensors a case's model may have; [`emit_gradients`] names each by its
/// parameter.
const MAX_PARAMETERS: usize = 16;

/// Returns `"{prefix}{index}.{field}"` without allocating.
pub(crate) fn name(prefix: &str, index: usize, field: &str) -> Name {
    let mut name = Name::new();
    // Every name here is far shorter than `MAX_NAME_LEN`.
    let _ = write!(name, "{prefix}{index}.{field}");
    name
}

/// Returns a value of type `T` with every number drawn uniformly from `[-1, 1)`.
pub(crate) fn uniform<T: Tensors>(rng: &mut Rng) -> T {
    let mut tensors = T::zeroed();
    tensors.for_each_mut(&mut |slice| {
        for value in slice {
            *value = rng.uniform(-1.0, 1.0);
        }
    });
    tensors
}

/// Hands each slice of `tensors` to `sink` as `"{prefix}.{i}"`.
pub(crate) fn emit_tensors<T: Tensors>(sink: &mut dyn Sink, prefix: &str, tensors: &T) {
    let mut index = 0;
    tensors.for_each(&mut |slice| {
        let mut name = Name::new();
        let _ = write!(name, "{prefix}.{index}");
        sink.tensor(&name, slice);
        index += 1;
    });
}

/// Hands every parameter and buffer of `model` to `sink` under its `state_dict` name.
pub(crate) fn emit_model<L: Layer>(sink: &mut dyn Sink, model: &L) {
    model.visit_tensors("", 0, &mut |info, values| sink.tensor(info.name, values));
}

/// Hands each gradient in `grads` to `sink` as `"grad {parameter name}"`.
///
/// [`Layer::visit_trainable`] hands out each parameter slice beside its gradient, and
/// [`Layer::visit_tensors`] the same slice beside its name, so the slice's address pairs them.
pub(crate) fn emit_gradients<L: Layer>(sink: &mut dyn Sink, model: &mut L, grads: &L::Grads) {
    let mut parameters: heapless::Vec<(usize, Name), MAX_PARAMETERS> = heapless::Vec::new();
    model.visit_tensors("", 0, &mut |info, values| {
        if info.kind == TensorKind::Parameter {
            let mut name = Name::new();
            let _ = write!(name, "grad {}", info.name);
            parameters
                .push((values.as_ptr() as usize, name))
                .expect("more trainable tensors than MAX_PARAMETERS");
        }
    });
    model.visit_trainable::<0>(grads, [], &mut |parameter, gradient, _| {
        let address = parameter.as_ptr() as usize;
        let name = parameters
            .iter()
            .find(|(candidate, _)| *candidate == address)
            .map_or("grad of an unnamed parameter", |(_, name)| name.as_str());
        sink.tensor(name, gradient);
    });
}

/// Runs one forward pass of `model` in `mode` on a batch drawn from `rng`, one backward pass
/// with an upstream gradient drawn from `rng`, the commit, and an inference pass on the same
/// batch. Hands `y`, `dx`, the gradients, the model after the commit and the inference output
/// to `sink`.
pub(crate) fn layer_step<L, const B: usize>(
    sink: &mut dyn Sink,
    model: &mut L,
    rng: &mut Rng,
    mode: Mode,
) where
    L: Layer,
    L::Input: Tensors,
    L::Output: Tensors,
{
    let x: [L::Input; B] = uniform(rng);
    let mut dy: [L::Output; B] = uniform(rng);

    let mut y = <[L::Output; B]>::zeroed();
    let mut cache = L::Cache::<B>::zeroed();
    model
        .forward_train(&x, &mut y, &mut cache, mode)
        .expect("the case's batch is large enough for batch normalisation");

    let mut dx = <[L::Input; B]>::zeroed();
    let mut grads = L::Grads::zeroed();
    model.backward(&x, &y, &mut cache, &mut dy, Some(&mut dx), Some(&mut grads));
    model.commit::<B>(&cache);

    emit_tensors(sink, "y", &y);
    emit_tensors(sink, "dx", &dx);
    emit_gradients(sink, model, &grads);
    emit_model(sink, model);

    let mut inference = <[L::Output; B]>::zeroed();
    model.forward(&x, &mut inference);
    emit_tensors(sink, "inference y", &inference);
}

/// Draws one sample: an input and its target.
pub(crate) type Sampler<I, T> = fn(&mut Rng) -> (I, T);

/// Runs `steps` training steps of `model` with `trainer` on batches drawn by `sample` from a
/// generator seeded with `data_seed`. Hands each step's report, then the model, the last
/// gradients, the optimizer state and the last outputs to `sink`.
///
/// # Panics
/// When a step fails: the cases use finite data and rates small enough to stay finite.
pub(crate) fn train<M, O, J, const B: usize>(
    sink: &mut dyn Sink,
    model: &mut M,
    trainer: &mut Trainer<M, O, B>,
    objective: &J,
    steps: usize,
    data_seed: u64,
    sample: Sampler<M::Input, J::Target>,
) where
    M: Layer,
    M::Input: Tensors,
    M::Output: Tensors,
    O: Optimizer,
    J: Objective<M::Output>,
{
    let mut rng = Rng::new(data_seed);
    for step in 0..steps {
        let batch: [(M::Input, J::Target); B] = core::array::from_fn(|_| sample(&mut rng));
        let x: [M::Input; B] = core::array::from_fn(|i| batch[i].0);
        let targets: [J::Target; B] = core::array::from_fn(|i| batch[i].1);
        match trainer.step(model, &x, &targets, objective) {
            Ok(report) => emit_report(sink, step, &report),
            Err(error) => panic!("training step {step} failed: {error}"),
        }
    }

    emit_model(sink, model);
    emit_gradients(sink, model, trainer.grads());
    emit_tensors(sink, "optimizer state", &trainer.state);
    emit_tensors(sink, "output", trainer.output());
}

/// Hands the numbers of one step's report to `sink`.
fn emit_report(sink: &mut dyn Sink, step: usize, report: &StepReport) {
    sink.tensor(
        &name("step ", step, "loss, norms, lr"),
        &[
            report.loss,
            report.grad_norm,
            report.clipped_grad_norm,
            report.learning_rate,
        ],
    );
    sink.tensor(&name("step ", step, "task losses"), &report.task_losses);
    sink.tensor(
        &name("step ", step, "layer grad norms"),
        &report.layer_grad_norms,
    );
}
