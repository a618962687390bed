//! Epoch loops around the core [`Trainer`]: shuffling, batching, per-task loss curves and
//! batched prediction.
//!
//! [`fit`] trains for a number of epochs. Each epoch shuffles the training samples with a
//! seeded [`Rng`] and steps through them in batches of `B`. The trainer needs full batches, so
//! the last `len % B` samples of each shuffled epoch are not trained on in that epoch. The order
//! changes every epoch, so different samples are left out each time. After each epoch, [`fit`]
//! records each task's mean loss over the whole training and test sets in evaluation mode
//! (batch normalisation on running statistics).
//!
//! Targets are tuples of `Option`s, one per task (see [`Labels`]), so evaluation can pad a last
//! partial batch with unlabeled samples that count for nothing.

use std::io::IsTerminal;
use std::time::Instant;

use gradwell::objective::Objective;
use gradwell::{build, Adam, Init, Layer, Optimizer, Rng, StepError, Tensors, Trainer, Zeroed};
use indicatif::{ProgressBar, ProgressStyle};

/// Targets of a multi-task objective: a tuple with one `Option` per task.
pub trait Labels: Copy {
    /// Number of tasks.
    const TASKS: usize;

    /// Returns the targets with no label for any task.
    fn unlabeled() -> Self;

    /// Returns `true` when task `task` has a label.
    fn is_labeled(&self, task: usize) -> bool;
}

macro_rules! labels {
    ($count:expr; $($t:ident $index:tt),+) => {
        impl<$($t: Copy),+> Labels for ($(Option<$t>,)+) {
            const TASKS: usize = $count;

            fn unlabeled() -> Self {
                ($(None::<$t>,)+)
            }

            fn is_labeled(&self, task: usize) -> bool {
                match task {
                    $($index => self.$index.is_some(),)+
                    _ => false,
                }
            }
        }
    };
}

labels!(1; T0 0);
labels!(2; T0 0, T1 1);
labels!(3; T0 0, T1 1, T2 2);
labels!(4; T0 0, T1 1, T2 2, T3 3);

/// Inputs and targets of a set of samples.
#[derive(Clone, Debug, Default)]
pub struct Dataset<I, T> {
    /// One input per sample.
    pub inputs: Vec<I>,
    /// One target per sample.
    pub targets: Vec<T>,
}

impl<I, T> Dataset<I, T> {
    /// Returns the number of samples.
    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    /// Returns `true` when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Appends one sample.
    pub fn push(&mut self, input: I, target: T) {
        self.inputs.push(input);
        self.targets.push(target);
    }
}

/// Settings of a [`fit`] run.
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Number of passes over the training set.
    pub epochs: usize,
    /// Seed of the shuffling order.
    pub seed: u64,
    /// Shows a progress bar on standard error, and only when both standard output and
    /// standard error are terminals.
    pub progress: bool,
    /// Name shown beside the progress bar.
    pub label: String,
}

/// Loss curves and throughput of a [`fit`] run.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct History {
    /// Per epoch, each task's mean loss over the training set after the epoch.
    pub train: Vec<Vec<f32>>,
    /// Per epoch, each task's mean loss over the test set after the epoch.
    pub test: Vec<Vec<f32>>,
    /// Number of optimizer steps.
    pub steps: u32,
    /// Number of samples trained on, summed over the epochs.
    pub samples: usize,
    /// Wall time of the training steps alone, without evaluation, in seconds.
    pub seconds: f64,
}

impl History {
    /// Returns the number of training samples processed per second of step time.
    pub fn samples_per_second(&self) -> f64 {
        self.samples as f64 / self.seconds
    }
}

/// A training step that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("training failed in epoch {epoch}, batch {batch}: {error}")]
pub struct FitError {
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based batch within the epoch; 0 for the evaluation after the epoch.
    pub batch: usize,
    /// Error returned by the core trainer.
    pub error: StepError,
}

/// Trains `model` for `options.epochs` epochs and records the loss curves.
///
/// # Errors
/// A [`FitError`] for the first step the trainer rejects; the model keeps the parameters of
/// the last accepted step.
pub fn fit<M, O, J, const B: usize>(
    model: &mut M,
    trainer: &mut Trainer<M, O, B>,
    objective: &J,
    train: &Dataset<M::Input, J::Target>,
    test: &Dataset<M::Input, J::Target>,
    options: &FitOptions,
) -> Result<History, FitError>
where
    M: Layer,
    M::Input: Tensors,
    O: Optimizer,
    J: Objective<M::Output>,
    J::Target: Labels,
{
    let batches = train.len() / B;
    let progress = progress_bar(options, (options.epochs * batches) as u64);
    let mut rng = Rng::new(options.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut history = History::default();
    let mut x = <[M::Input; B]>::zeroed();
    let mut targets = [J::Target::unlabeled(); B];

    for epoch in 1..=options.epochs {
        rng.shuffle(&mut order);
        let start = Instant::now();
        for (batch, indices) in order.chunks_exact(B).enumerate() {
            for (slot, &i) in indices.iter().enumerate() {
                x[slot] = train.inputs[i];
                targets[slot] = train.targets[i];
            }
            trainer
                .step(model, &x, &targets, objective)
                .map_err(|error| FitError {
                    epoch,
                    batch: batch + 1,
                    error,
                })?;
            progress.inc(1);
        }
        history.seconds += start.elapsed().as_secs_f64();
        history.samples += batches * B;

        let evaluation_error = |error| FitError {
            epoch,
            batch: 0,
            error,
        };
        let train_losses =
            task_losses(model, trainer, objective, train).map_err(evaluation_error)?;
        let test_losses = task_losses(model, trainer, objective, test).map_err(evaluation_error)?;
        progress.set_message(format!(
            "epoch {epoch}/{}, train loss {:.3}",
            options.epochs,
            train_losses.iter().sum::<f32>()
        ));
        history.train.push(train_losses);
        history.test.push(test_losses);
    }
    history.steps = trainer.step;
    progress.finish_and_clear();
    Ok(history)
}

/// Builds a model of type `M` with [`Init::PyTorch`] from `options.seed` and trains it with
/// [`Adam::pytorch`] at `learning_rate` in batches of `B`; see [`fit`].
///
/// # Errors
/// A [`FitError`] for the first step the trainer rejects.
pub fn train_adam<M, J, const B: usize>(
    objective: &J,
    train: &Dataset<M::Input, J::Target>,
    test: &Dataset<M::Input, J::Target>,
    learning_rate: f32,
    options: &FitOptions,
) -> Result<(M, History), FitError>
where
    M: Layer + Zeroed,
    M::Input: Tensors,
    J: Objective<M::Output>,
    J::Target: Labels,
{
    let mut model: M = build(Init::PyTorch, options.seed);
    // The trainer contains a batch of caches and the optimizer moments, so it lives on the heap.
    let mut trainer = Box::new(Trainer::<M, Adam, B>::new(Adam::pytorch(learning_rate)));
    let history = fit(&mut model, &mut trainer, objective, train, test, options)?;
    Ok((model, history))
}

/// Returns each task's mean loss over `data` in evaluation mode, averaged over the samples
/// that have a label for the task (0 for a task without labels).
///
/// # Errors
/// [`StepError::NonFiniteInput`] or [`StepError::InvalidTarget`] for bad data.
pub fn task_losses<M, O, J, const B: usize>(
    model: &M,
    trainer: &mut Trainer<M, O, B>,
    objective: &J,
    data: &Dataset<M::Input, J::Target>,
) -> Result<Vec<f32>, StepError>
where
    M: Layer,
    M::Input: Tensors,
    O: Optimizer,
    J: Objective<M::Output>,
    J::Target: Labels,
{
    let tasks = J::Target::TASKS;
    let mut sums = vec![0.0f64; tasks];
    let mut counts = vec![0usize; tasks];
    let mut x = <[M::Input; B]>::zeroed();
    let mut targets = [J::Target::unlabeled(); B];

    for start in (0..data.len()).step_by(B) {
        let end = (start + B).min(data.len());
        for slot in 0..B {
            let i = start + slot;
            x[slot] = if i < end {
                data.inputs[i]
            } else {
                Zeroed::zeroed()
            };
            targets[slot] = if i < end {
                data.targets[i]
            } else {
                J::Target::unlabeled()
            };
        }
        let losses = trainer.evaluate(model, &x, &targets, objective)?;
        for task in 0..tasks {
            let labeled = targets.iter().filter(|t| t.is_labeled(task)).count();
            sums[task] += f64::from(losses[task]) * labeled as f64;
            counts[task] += labeled;
        }
    }
    Ok(sums
        .iter()
        .zip(&counts)
        .map(|(&sum, &count)| {
            if count == 0 {
                0.0
            } else {
                (sum / count as f64) as f32
            }
        })
        .collect())
}

/// Runs `model` in evaluation mode on every input, in batches of 32.
pub fn predict<M: Layer>(model: &M, inputs: &[M::Input]) -> Vec<M::Output> {
    const BATCH: usize = 32;
    let mut outputs = Vec::with_capacity(inputs.len());
    let mut x = <[M::Input; BATCH]>::zeroed();
    let mut y = <[M::Output; BATCH]>::zeroed();
    for chunk in inputs.chunks(BATCH) {
        x[..chunk.len()].copy_from_slice(chunk);
        model.forward(&x, &mut y);
        outputs.extend_from_slice(&y[..chunk.len()]);
    }
    outputs
}

/// Returns `true` when both standard output and standard error are terminals, the condition
/// for drawing progress bars.
pub fn is_interactive() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

fn progress_bar(options: &FitOptions, steps: u64) -> ProgressBar {
    if !options.progress || !is_interactive() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(steps);
    let style = ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} steps, {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(options.label.clone());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use gradwell::{Dense, Mse, MultiTask, Task};

    type Tiny = MultiTask<Dense<2, 4>, (Dense<4, 1>, Dense<4, 1>)>;
    type TinyTargets = (Option<[f32; 1]>, Option<[f32; 1]>);

    fn data(n: usize) -> Dataset<[f32; 2], TinyTargets> {
        let mut data = Dataset::default();
        for i in 0..n {
            let a = i as f32 / n as f32;
            let label = if i % 3 == 0 { None } else { Some([a - 1.0]) };
            data.push([a, 1.0 - a], (Some([2.0 * a]), label));
        }
        data
    }

    #[test]
    fn padded_evaluation_matches_one_batch() {
        let model: Tiny = build(Init::PyTorch, 1);
        let objective = (Task::new(Mse), Task::new(Mse));
        let data = data(8);
        let mut small = Trainer::<Tiny, Adam, 3>::new(Adam::pytorch(1e-3));
        let mut whole = Trainer::<Tiny, Adam, 8>::new(Adam::pytorch(1e-3));
        let padded = task_losses(&model, &mut small, &objective, &data).unwrap();
        let exact = task_losses(&model, &mut whole, &objective, &data).unwrap();
        // Sums of 8 squares in a different order.
        const TOLERANCE: f32 = 1e-6;
        for (p, e) in padded.iter().zip(&exact) {
            assert!((p - e).abs() <= TOLERANCE * e.abs().max(1.0), "{p} vs {e}");
        }
    }

    #[test]
    fn fit_records_curves_and_drops_partial_batch() {
        let mut model: Tiny = build(Init::PyTorch, 2);
        let objective = (Task::new(Mse), Task::new(Mse));
        let mut trainer = Trainer::<Tiny, Adam, 4>::new(Adam::pytorch(1e-2));
        let options = FitOptions {
            epochs: 30,
            seed: 3,
            progress: false,
            label: "tiny".into(),
        };
        let history = fit(
            &mut model,
            &mut trainer,
            &objective,
            &data(10),
            &data(5),
            &options,
        )
        .unwrap();
        assert_eq!(history.train.len(), 30);
        assert_eq!(history.test.len(), 30);
        assert_eq!(history.steps, 60);
        assert_eq!(history.samples, 240);
        assert!(history.train[29][0] < history.train[0][0]);
    }

    #[test]
    fn predict_matches_forward() {
        let model: Tiny = build(Init::PyTorch, 4);
        let inputs: Vec<[f32; 2]> = (0..40).map(|i| [i as f32, 1.0]).collect();
        let outputs = predict(&model, &inputs);
        assert_eq!(outputs.len(), 40);
        let mut y = [([0.0], [0.0])];
        model.forward(&[inputs[37]], &mut y);
        assert_eq!(outputs[37], y[0]);
    }
}
