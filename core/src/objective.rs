//! The training objective: one loss per task head, fused into `J = Σ wᵢ Jᵢ`.
//!
//! A single-head model trains on a [`Task`], and a multi-task model on a tuple of tasks, one per
//! head, whose targets are `Option`s. A sample without a label for task `i` (`None`) is left out
//! of `Jᵢ` and of its gradient, rather than counted as a zero. Each `Jᵢ` is the mean over the
//! samples that have a label, so a task's scale does not depend on how many labels a batch has.
//!
//! The weights `wᵢ` are fixed ([`Task::weight`]) or learned with uncertainty weighting, chosen in
//! [`Weighting`].

use crate::loss::Loss;

/// Most tasks an objective can have.
pub const MAX_TASKS: usize = 8;

/// One task: a loss on one head and its fixed weight in the fused objective.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Task<L> {
    /// The loss on the head's output.
    pub loss: L,
    /// Weight `wᵢ` in `J = Σ wᵢ Jᵢ`; ignored under [`Weighting::Uncertainty`].
    pub weight: f32,
}

impl<L> Task<L> {
    /// Creates a task with weight 1.
    pub const fn new(loss: L) -> Self {
        Self { loss, weight: 1.0 }
    }

    /// Returns the task with weight `weight`.
    pub fn weighted(self, weight: f32) -> Self {
        Self { weight, ..self }
    }
}

/// Weighting of the tasks' losses in the fused objective.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Weighting {
    /// `J = Σ wᵢ Jᵢ` with the fixed weights of the tasks.
    #[default]
    Fixed,
    /// `J = Σ (e^(−sᵢ) Jᵢ + sᵢ)` with one learned log-variance `sᵢ` per task, starting at 0
    /// (Kendall, Gal and Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for
    /// Scene Geometry and Semantics", CVPR 2018, in the common form without the factor ½).
    Uncertainty,
}

/// A target that cannot be trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InvalidTarget {
    /// Sample index in the batch.
    pub sample: usize,
    /// Task index.
    pub task: usize,
    /// Index of the value inside the task's target.
    pub index: usize,
}

/// Losses for a model whose per-sample output is `O`.
pub trait Objective<O> {
    /// One sample's targets.
    type Target: Copy;
    /// Number of tasks.
    const TASKS: usize;

    /// Writes the fixed weight of each task into `weights[..TASKS]`.
    fn weights(&self, weights: &mut [f32]);

    /// Computes each task's mean loss `Jᵢ` into `losses[..TASKS]` and writes
    /// `scales[i] · ∂Jᵢ/∂y` into `dy`.
    fn evaluate<const B: usize>(
        &self,
        y: &[O; B],
        targets: &[Self::Target; B],
        scales: &[f32],
        dy: &mut [O; B],
        losses: &mut [f32],
    );

    /// Returns the first target that is not finite or out of range, if any.
    fn invalid_target<const B: usize>(&self, targets: &[Self::Target; B]) -> Option<InvalidTarget>;
}

/// Computes one task's mean loss over the samples that have a target, and its scaled gradient.
fn task_loss<'a, L: Loss<N>, const N: usize>(
    loss: &L,
    samples: impl Iterator<Item = (&'a [f32; N], Option<&'a L::Target>, &'a mut [f32; N])>,
    scale: f32,
    count: usize,
) -> f32
where
    L::Target: 'a,
{
    let denominator = (count * loss.elements()) as f32;
    let mut sum = 0.0;
    for (y, target, dy) in samples {
        match target {
            Some(t) if count > 0 => {
                sum += loss.sample(y, t, dy);
                for g in dy.iter_mut() {
                    *g = *g * scale / denominator;
                }
            }
            _ => dy.fill(0.0),
        }
    }
    if count == 0 {
        0.0
    } else {
        sum / denominator
    }
}

impl<L: Loss<N>, const N: usize> Objective<[f32; N]> for Task<L> {
    type Target = L::Target;
    const TASKS: usize = 1;

    fn weights(&self, weights: &mut [f32]) {
        weights[0] = self.weight;
    }

    fn evaluate<const B: usize>(
        &self,
        y: &[[f32; N]; B],
        targets: &[L::Target; B],
        scales: &[f32],
        dy: &mut [[f32; N]; B],
        losses: &mut [f32],
    ) {
        let samples = y
            .iter()
            .zip(targets.iter().map(Some))
            .zip(dy.iter_mut())
            .map(|((y, t), d)| (y, t, d));
        losses[0] = task_loss(&self.loss, samples, scales[0], B);
    }

    fn invalid_target<const B: usize>(&self, targets: &[L::Target; B]) -> Option<InvalidTarget> {
        targets.iter().enumerate().find_map(|(sample, t)| {
            self.loss.invalid_target(t).map(|index| InvalidTarget {
                sample,
                task: 0,
                index,
            })
        })
    }
}

macro_rules! tasks {
    ($count:expr; $($loss:ident $n:ident $index:tt),+) => {
        impl<$($loss: Loss<$n>, const $n: usize),+> Objective<($([f32; $n],)+)> for ($(Task<$loss>,)+) {
            type Target = ($(Option<$loss::Target>,)+);
            const TASKS: usize = $count;

            fn weights(&self, weights: &mut [f32]) {
                $(weights[$index] = self.$index.weight;)+
            }

            fn evaluate<const B: usize>(
                &self,
                y: &[($([f32; $n],)+); B],
                targets: &[Self::Target; B],
                scales: &[f32],
                dy: &mut [($([f32; $n],)+); B],
                losses: &mut [f32],
            ) {
                $(
                    let count = targets.iter().filter(|t| t.$index.is_some()).count();
                    let samples = y
                        .iter()
                        .zip(targets.iter())
                        .zip(dy.iter_mut())
                        .map(|((y, t), d)| (&y.$index, t.$index.as_ref(), &mut d.$index));
                    losses[$index] = task_loss(&self.$index.loss, samples, scales[$index], count);
                )+
            }

            fn invalid_target<const B: usize>(&self, targets: &[Self::Target; B]) -> Option<InvalidTarget> {
                for (sample, t) in targets.iter().enumerate() {
                    $(
                        if let Some(target) = &t.$index {
                            if let Some(index) = self.$index.loss.invalid_target(target) {
                                return Some(InvalidTarget { sample, task: $index, index });
                            }
                        }
                    )+
                }
                None
            }
        }
    };
}

tasks!(1; L0 N0 0);
tasks!(2; L0 N0 0, L1 N1 1);
tasks!(3; L0 N0 0, L1 N1 1, L2 N2 2);
tasks!(4; L0 N0 0, L1 N1 1, L2 N2 2, L3 N3 3);
tasks!(5; L0 N0 0, L1 N1 1, L2 N2 2, L3 N3 3, L4 N4 4);
tasks!(6; L0 N0 0, L1 N1 1, L2 N2 2, L3 N3 3, L4 N4 4, L5 N5 5);
tasks!(7; L0 N0 0, L1 N1 1, L2 N2 2, L3 N3 3, L4 N4 4, L5 N5 5, L6 N6 6);
tasks!(8; L0 N0 0, L1 N1 1, L2 N2 2, L3 N3 3, L4 N4 4, L5 N5 5, L6 N6 6, L7 N7 7);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::{BinaryCrossEntropy, Mse};

    #[test]
    fn missing_labels_are_left_out() {
        let objective = (Task::new(Mse), Task::new(BinaryCrossEntropy).weighted(0.5));
        let y = [([1.0], [0.0]), ([3.0], [0.0]), ([5.0], [0.0])];
        let targets = [
            (Some([0.0]), None),
            (None, Some([1.0])),
            (Some([4.0]), None),
        ];
        let mut dy = [([0.0], [0.0]); 3];
        let mut losses = [0.0; 2];
        objective.evaluate(&y, &targets, &[1.0, 0.5], &mut dy, &mut losses);
        // Task 0: samples 0 and 2 only: (1 + 1) / 2.
        assert_eq!(losses[0], 1.0);
        assert_eq!(dy[0].0, [1.0]);
        assert_eq!(dy[1].0, [0.0]);
        assert_eq!(dy[2].0, [1.0]);
        // Task 1: sample 1 only, ln 2, gradient (0.5 - 1) · 0.5.
        assert!((losses[1] - core::f32::consts::LN_2).abs() < 1e-6);
        assert_eq!(dy[1].1, [-0.25]);
        assert_eq!(dy[0].1, [0.0]);
    }

    #[test]
    fn invalid_target_names_sample_and_task() {
        let objective = (Task::new(Mse), Task::new(Mse));
        let targets = [
            (Some([0.0]), Some([1.0])),
            (Some([1.0]), Some([f32::INFINITY])),
        ];
        assert_eq!(
            objective.invalid_target(&targets),
            Some(InvalidTarget {
                sample: 1,
                task: 1,
                index: 0
            })
        );
        let fine = [(Some([0.0]), None::<[f32; 1]>)];
        assert_eq!(objective.invalid_target(&fine), None);
    }
}
