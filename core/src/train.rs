//! One training step that never leaves the model worse than it found it.
//!
//! [`Trainer::step`] runs forward, the fused loss, backward, gradient clipping and the
//! optimizer update, and returns a [`StepReport`]. It checks, in this order, before changing
//! anything:
//!
//! 1. every input and target is finite (and every class label in range);
//! 2. the forward pass is valid (batch normalisation needs two samples);
//! 3. every task's loss and the fused loss are finite;
//! 4. every gradient is finite;
//! 5. every new parameter and optimizer moment would be finite.
//!
//! A failed check returns a [`StepError`] naming the sample, feature, task or layer, and the
//! parameters, optimizer state, batch-norm running statistics and step counter stay exactly as
//! they were. The caller decides whether to go on.

use crate::clip::GradientClip;
use crate::layer::{ForwardError, Layer, Mode};
use crate::objective::{InvalidTarget, Objective, Weighting, MAX_TASKS};
use crate::optim::{Optimizer, Params, UpdateContext};
use crate::schedule::Schedule;
use crate::tensor::{Tensors, Zeroed};

/// Most layers a [`StepReport`] gives gradient norms for.
pub const MAX_REPORTED_LAYERS: usize = 64;

/// Summary of one accepted training step.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepReport {
    /// Number of this step, counting from 1.
    pub step: u32,
    /// The fused loss `J` that was minimised.
    pub loss: f32,
    /// Each task's mean loss `Jᵢ`, before weighting.
    pub task_losses: heapless::Vec<f32, MAX_TASKS>,
    /// Global L2 norm of all gradients before clipping.
    pub grad_norm: f32,
    /// Global L2 norm of all gradients after clipping.
    pub clipped_grad_norm: f32,
    /// L2 norm of each trainable layer's gradients before clipping, from input to output.
    /// Vanishing gradients show as first-layer norms far below the last layer's.
    pub layer_grad_norms: heapless::Vec<f32, MAX_REPORTED_LAYERS>,
    /// Learning rate used for the update.
    pub learning_rate: f32,
}

/// Reason a training step was rejected. Nothing was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum StepError {
    /// An input value is NaN or infinite.
    NonFiniteInput {
        /// Sample index in the batch.
        sample: usize,
        /// Feature index in the sample.
        feature: usize,
    },
    /// A target is NaN, infinite or out of range.
    InvalidTarget(InvalidTarget),
    /// The forward pass failed.
    Forward(ForwardError),
    /// A task's loss, or the fused loss when `task` is `None`, is not finite.
    NonFiniteLoss {
        /// The task whose loss is not finite.
        task: Option<usize>,
    },
    /// A gradient is not finite; `layer` counts trainable layers from the input, or is `None`
    /// for the uncertainty weights.
    NonFiniteGradient {
        /// The first layer with a non-finite gradient.
        layer: Option<usize>,
    },
    /// The update would make a parameter or an optimizer moment non-finite.
    NonFiniteUpdate,
}

impl core::fmt::Display for StepError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StepError::NonFiniteInput { sample, feature } => {
                write!(
                    f,
                    "input of sample {sample}, feature {feature} is not finite"
                )
            }
            StepError::InvalidTarget(t) => write!(
                f,
                "target of sample {}, task {}, value {} is not finite or out of range",
                t.sample, t.task, t.index
            ),
            StepError::Forward(e) => write!(f, "{e}"),
            StepError::NonFiniteLoss { task: Some(task) } => {
                write!(f, "loss of task {task} is not finite")
            }
            StepError::NonFiniteLoss { task: None } => write!(f, "fused loss is not finite"),
            StepError::NonFiniteGradient { layer: Some(layer) } => {
                write!(f, "gradient of trainable layer {layer} is not finite")
            }
            StepError::NonFiniteGradient { layer: None } => {
                write!(f, "gradient of the uncertainty weights is not finite")
            }
            StepError::NonFiniteUpdate => {
                write!(f, "update would make a parameter or optimizer moment non-finite; lower the learning rate")
            }
        }
    }
}

impl core::error::Error for StepError {}

impl From<ForwardError> for StepError {
    fn from(e: ForwardError) -> Self {
        StepError::Forward(e)
    }
}

/// The learned log-variances `sᵢ` of uncertainty weighting, one per task.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LogVariances(pub [f32; MAX_TASKS]);

impl Params for LogVariances {
    type Grads = [f32; MAX_TASKS];
    fn visit<const K: usize>(
        &mut self,
        grads: &[f32; MAX_TASKS],
        moments: [&mut [f32; MAX_TASKS]; K],
        f: &mut dyn FnMut(&mut [f32], &[f32], [&mut [f32]; K]),
    ) {
        f(&mut self.0, grads, moments.map(|m| &mut m[..]));
    }
}

/// Everything training needs beside the model: optimizer, its state, schedule, clipping and
/// the buffers of a batch of `B` samples. Its size is known at compile time.
pub struct Trainer<M: Layer, O: Optimizer, const B: usize> {
    /// The optimizer and its hyperparameters.
    pub optimizer: O,
    /// The learning-rate schedule.
    pub schedule: Schedule,
    /// Gradient clipping.
    pub clip: GradientClip,
    /// Clip every parameter into `[−λ, λ]` after each update.
    pub weight_clip: Option<f32>,
    /// Weighting of the task losses.
    pub weighting: Weighting,
    /// The optimizer's moments for the model.
    pub state: O::State<M::Grads>,
    /// Learned log-variances, used under [`Weighting::Uncertainty`].
    pub log_variances: LogVariances,
    /// The optimizer's moments for the log-variances.
    pub log_variance_state: O::State<[f32; MAX_TASKS]>,
    /// Number of accepted steps.
    pub step: u32,
    grads: M::Grads,
    log_variance_grads: [f32; MAX_TASKS],
    cache: M::Cache<B>,
    output: [M::Output; B],
    output_grad: [M::Output; B],
}

impl<M: Layer, O: Optimizer, const B: usize> Trainer<M, O, B>
where
    M::Input: Tensors,
{
    /// Creates a trainer with a constant schedule, no clipping and fixed task weights.
    ///
    /// NOTE: the trainer is returned by value, and without optimisation the compiler builds it
    /// on the stack before moving it (65 KB for [`weather::Model`](crate::weather::Model) at
    /// batch 32). On a device, write the result straight into a `static` (as the firmware's
    /// `Workspace::take` does) and measure the peak stack.
    pub fn new(optimizer: O) -> Self {
        const {
            assert!(
                M::LAYERS <= MAX_REPORTED_LAYERS,
                "model has more trainable layers than MAX_REPORTED_LAYERS"
            )
        };
        Self {
            optimizer,
            schedule: Schedule::CONSTANT,
            clip: GradientClip::None,
            weight_clip: None,
            weighting: Weighting::Fixed,
            state: Zeroed::zeroed(),
            log_variances: LogVariances([0.0; MAX_TASKS]),
            log_variance_state: Zeroed::zeroed(),
            step: 0,
            grads: Zeroed::zeroed(),
            log_variance_grads: [0.0; MAX_TASKS],
            cache: Zeroed::zeroed(),
            output: Zeroed::zeroed(),
            output_grad: Zeroed::zeroed(),
        }
    }

    /// Returns the learning rate the next step will use.
    pub fn learning_rate(&self) -> f32 {
        self.optimizer.learning_rate() * self.schedule.factor(self.step)
    }

    /// Returns the model outputs of the last forward pass.
    pub fn output(&self) -> &[M::Output; B] {
        &self.output
    }

    /// Returns the gradients of the last accepted or rejected step.
    pub fn grads(&self) -> &M::Grads {
        &self.grads
    }

    /// Trains `model` on one batch.
    ///
    /// # Errors
    /// A [`StepError`] when a check fails; `model` and the trainer's state are then unchanged.
    pub fn step<J: Objective<M::Output>>(
        &mut self,
        model: &mut M,
        x: &[M::Input; B],
        targets: &[J::Target; B],
        objective: &J,
    ) -> Result<StepReport, StepError> {
        check_inputs(x)?;
        if let Some(invalid) = objective.invalid_target(targets) {
            return Err(StepError::InvalidTarget(invalid));
        }

        model.forward_train(x, &mut self.output, &mut self.cache, Mode::Train)?;

        let (task_losses, loss) = self.fused_loss(objective, targets)?;

        model.backward(
            x,
            &self.output,
            &mut self.cache,
            &mut self.output_grad,
            None,
            Some(&mut self.grads),
        );
        let mut layer_grad_norms = heapless::Vec::new();
        M::layer_grad_norms(&self.grads, &mut |norm| {
            // Capacity is checked at compile time in `new`.
            let _ = layer_grad_norms.push(norm);
        });
        if let Some(layer) = layer_grad_norms.iter().position(|n| !n.is_finite()) {
            return Err(StepError::NonFiniteGradient { layer: Some(layer) });
        }
        if !self.grads.all_finite() {
            return Err(StepError::NonFiniteGradient { layer: None });
        }
        if !self.log_variance_grads.all_finite() {
            return Err(StepError::NonFiniteGradient { layer: None });
        }

        let (grad_norm, clipped_grad_norm) = self.clip.apply(&mut self.grads);

        let learning_rate = self.learning_rate();
        let mut context = UpdateContext {
            learning_rate,
            step: self.step + 1,
            weight_clip: self.weight_clip,
            write: false,
        };
        let uncertainty = self.weighting == Weighting::Uncertainty;
        let mut finite = self
            .optimizer
            .update(model, &self.grads, &mut self.state, &context);
        if uncertainty {
            finite &= self.optimizer.update(
                &mut self.log_variances,
                &self.log_variance_grads,
                &mut self.log_variance_state,
                &UpdateContext {
                    weight_clip: None,
                    ..context
                },
            );
        }
        if !finite {
            return Err(StepError::NonFiniteUpdate);
        }

        context.write = true;
        self.optimizer
            .update(model, &self.grads, &mut self.state, &context);
        if uncertainty {
            self.optimizer.update(
                &mut self.log_variances,
                &self.log_variance_grads,
                &mut self.log_variance_state,
                &UpdateContext {
                    weight_clip: None,
                    ..context
                },
            );
        }
        model.commit(&self.cache);
        self.step += 1;

        Ok(StepReport {
            step: self.step,
            loss,
            task_losses,
            grad_norm,
            clipped_grad_norm,
            layer_grad_norms,
            learning_rate,
        })
    }

    /// Computes each task's mean loss on `x` in evaluation mode, without training.
    ///
    /// # Errors
    /// [`StepError::NonFiniteInput`] or [`StepError::InvalidTarget`] for bad data.
    pub fn evaluate<J: Objective<M::Output>>(
        &mut self,
        model: &M,
        x: &[M::Input; B],
        targets: &[J::Target; B],
        objective: &J,
    ) -> Result<heapless::Vec<f32, MAX_TASKS>, StepError> {
        check_inputs(x)?;
        if let Some(invalid) = objective.invalid_target(targets) {
            return Err(StepError::InvalidTarget(invalid));
        }
        model.forward(x, &mut self.output);
        let mut losses = [0.0; MAX_TASKS];
        let scales = [1.0; MAX_TASKS];
        objective.evaluate(
            &self.output,
            targets,
            &scales,
            &mut self.output_grad,
            &mut losses,
        );
        Ok(losses[..J::TASKS].iter().copied().collect())
    }

    fn fused_loss<J: Objective<M::Output>>(
        &mut self,
        objective: &J,
        targets: &[J::Target; B],
    ) -> Result<(heapless::Vec<f32, MAX_TASKS>, f32), StepError> {
        let tasks = J::TASKS;
        let mut scales = [0.0f32; MAX_TASKS];
        match self.weighting {
            Weighting::Fixed => objective.weights(&mut scales),
            Weighting::Uncertainty => {
                for (scale, &s) in scales.iter_mut().zip(&self.log_variances.0).take(tasks) {
                    *scale = crate::math::exp(-s);
                }
            }
        }

        let mut losses = [0.0f32; MAX_TASKS];
        objective.evaluate(
            &self.output,
            targets,
            &scales,
            &mut self.output_grad,
            &mut losses,
        );
        if let Some(task) = losses[..tasks].iter().position(|l| !l.is_finite()) {
            return Err(StepError::NonFiniteLoss { task: Some(task) });
        }

        let mut fused = 0.0f32;
        self.log_variance_grads = [0.0; MAX_TASKS];
        for i in 0..tasks {
            fused += scales[i] * losses[i];
            if self.weighting == Weighting::Uncertainty {
                fused += self.log_variances.0[i];
                // ∂/∂s (e^(−s) J + s) = 1 − e^(−s) J.
                self.log_variance_grads[i] = 1.0 - scales[i] * losses[i];
            }
        }
        if !fused.is_finite() {
            return Err(StepError::NonFiniteLoss { task: None });
        }
        Ok((losses[..tasks].iter().copied().collect(), fused))
    }
}

fn check_inputs<I: Tensors, const B: usize>(x: &[I; B]) -> Result<(), StepError> {
    for (sample, input) in x.iter().enumerate() {
        let mut feature = 0;
        let mut bad = None;
        input.for_each(&mut |values| {
            if bad.is_none() {
                if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                    bad = Some(feature + i);
                }
            }
            feature += values.len();
        });
        if let Some(feature) = bad {
            return Err(StepError::NonFiniteInput { sample, feature });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::{BinaryCrossEntropy, Mse};
    use crate::objective::Task;
    use crate::optim::{Adam, Sgd};
    use crate::{seq, BatchNorm, Dense, Init, MultiTask, Relu};

    type Model = MultiTask<
        seq![Dense<3, 8, Relu>, BatchNorm<8>, Dense<8, 4, Relu>],
        (Dense<4, 1>, Dense<4, 1>),
    >;

    fn objective() -> (Task<Mse>, Task<BinaryCrossEntropy>) {
        (Task::new(Mse), Task::new(BinaryCrossEntropy))
    }

    fn batch() -> ([[f32; 3]; 4], [(Option<[f32; 1]>, Option<[f32; 1]>); 4]) {
        let x = [
            [0.1, 0.2, -0.3],
            [1.0, -0.5, 0.25],
            [-0.7, 0.3, 0.9],
            [0.4, 0.4, -0.1],
        ];
        let t = [
            (Some([1.0]), Some([1.0])),
            (Some([-1.0]), None),
            (None, Some([0.0])),
            (Some([0.5]), Some([1.0])),
        ];
        (x, t)
    }

    fn bytes(model: &Model) -> std::vec::Vec<u32> {
        let mut out = std::vec::Vec::new();
        model.visit_tensors("", 0, &mut |_, values| {
            out.extend(values.iter().map(|v| v.to_bits()))
        });
        out
    }

    fn state_bytes(trainer: &Trainer<Model, Adam, 4>) -> std::vec::Vec<u32> {
        let mut out = std::vec::Vec::new();
        trainer
            .state
            .for_each(&mut |values| out.extend(values.iter().map(|v| v.to_bits())));
        out
    }

    #[test]
    fn training_reduces_loss() {
        let mut model: Model = crate::build(Init::PyTorch, 3);
        let mut trainer = Trainer::<Model, Adam, 4>::new(Adam::pytorch(0.01));
        let (x, t) = batch();
        let first = trainer.step(&mut model, &x, &t, &objective()).unwrap();
        let mut last = first.clone();
        for _ in 0..200 {
            last = trainer.step(&mut model, &x, &t, &objective()).unwrap();
        }
        assert_eq!(last.step, 201);
        assert!(
            last.loss < 0.2 * first.loss,
            "loss {} → {}",
            first.loss,
            last.loss
        );
        assert_eq!(first.task_losses.len(), 2);
        assert_eq!(first.layer_grad_norms.len(), Model::LAYERS);
        assert!(first.layer_grad_norms.iter().all(|n| *n > 0.0));
    }

    #[test]
    fn rejected_steps_change_nothing() {
        let mut model: Model = crate::build(Init::PyTorch, 4);
        let mut trainer = Trainer::<Model, Adam, 4>::new(Adam::pytorch(0.01));
        let (x, t) = batch();
        trainer.step(&mut model, &x, &t, &objective()).unwrap();
        let (before, state_before) = (bytes(&model), state_bytes(&trainer));

        let mut bad_x = x;
        bad_x[2][1] = f32::NAN;
        assert_eq!(
            trainer.step(&mut model, &bad_x, &t, &objective()),
            Err(StepError::NonFiniteInput {
                sample: 2,
                feature: 1
            })
        );
        let mut bad_t = t;
        bad_t[3].0 = Some([f32::INFINITY]);
        assert_eq!(
            trainer.step(&mut model, &x, &bad_t, &objective()),
            Err(StepError::InvalidTarget(InvalidTarget {
                sample: 3,
                task: 0,
                index: 0
            }))
        );
        let mut huge = x;
        huge[0] = [3e38, -3e38, 3e38];
        let overflow = trainer.step(&mut model, &huge, &t, &objective());
        assert!(
            matches!(
                overflow,
                Err(StepError::NonFiniteLoss { .. } | StepError::NonFiniteGradient { .. })
            ),
            "{overflow:?}"
        );

        assert_eq!(bytes(&model), before);
        assert_eq!(state_bytes(&trainer), state_before);
        assert_eq!(trainer.step, 1);
    }

    #[test]
    fn overflowing_update_is_rejected() {
        let mut model: Model = crate::build(Init::PyTorch, 5);
        let mut trainer = Trainer::<Model, Sgd, 4>::new(Sgd::new(3e38));
        let (x, t) = batch();
        let before = bytes(&model);
        assert_eq!(
            trainer.step(&mut model, &x, &t, &objective()),
            Err(StepError::NonFiniteUpdate)
        );
        assert_eq!(bytes(&model), before);
        assert_eq!(trainer.step, 0);
    }

    #[test]
    fn batch_norm_batch_of_one() {
        let mut model: Model = crate::build(Init::PyTorch, 6);
        let mut trainer = Trainer::<Model, Sgd, 1>::new(Sgd::new(0.1));
        let result = trainer.step(
            &mut model,
            &[[0.0; 3]],
            &[(Some([0.0]), Some([1.0]))],
            &objective(),
        );
        assert_eq!(
            result,
            Err(StepError::Forward(ForwardError::BatchTooSmall { batch: 1 }))
        );
    }

    #[test]
    fn uncertainty_weighting_learns_log_variances() {
        let mut model: Model = crate::build(Init::PyTorch, 7);
        let mut trainer = Trainer::<Model, Adam, 4>::new(Adam::pytorch(0.01));
        trainer.weighting = Weighting::Uncertainty;
        let (x, t) = batch();
        let report = trainer.step(&mut model, &x, &t, &objective()).unwrap();
        // At s = 0: J = J0 + J1, and ∂J/∂sᵢ = 1 − Jᵢ, so Adam moves sᵢ by ±lr.
        assert!((report.loss - (report.task_losses[0] + report.task_losses[1])).abs() < 1e-6);
        for i in 0..2 {
            let expected = if report.task_losses[i] > 1.0 {
                0.01
            } else {
                -0.01
            };
            assert!(
                (trainer.log_variances.0[i] - expected).abs() < 1e-4,
                "s{i} = {}",
                trainer.log_variances.0[i]
            );
        }
        assert_eq!(trainer.log_variances.0[2], 0.0);
    }

    #[test]
    fn report_carries_clipping_and_learning_rate() {
        let mut model: Model = crate::build(Init::PyTorch, 8);
        let mut trainer = Trainer::<Model, Sgd, 4>::new(Sgd::new(0.5));
        trainer.clip = GradientClip::Norm(1e-3);
        trainer.schedule = Schedule::new(crate::schedule::Decay::Linear { steps: 10 });
        let (x, t) = batch();
        let first = trainer.step(&mut model, &x, &t, &objective()).unwrap();
        assert!(first.grad_norm > 1e-3);
        assert!(
            (first.clipped_grad_norm - 1e-3).abs() < 1e-7,
            "{}",
            first.clipped_grad_norm
        );
        assert_eq!(first.learning_rate, 0.5);
        let second = trainer.step(&mut model, &x, &t, &objective()).unwrap();
        assert_eq!(second.learning_rate, 0.5 * 0.9);
    }

    extern crate std;
}
