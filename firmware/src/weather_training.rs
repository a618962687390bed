//! Training [`weather::Model`] on the device, in two modes, and scoring it on the test year.
//!
//! Both modes use the host demo's settings (`host/src/seattle.rs`): [`Init::PyTorch`] from
//! seed [`SEED`], Adam with PyTorch's defaults and learning rate [`LEARNING_RATE`], batches of
//! [`BATCH`], equal task weights ([`weather::objective`]), inputs and temperature targets
//! z-scored with training statistics.
//!
//! - [`Workspace::train_epochs`] is the host demo's loop: each epoch shuffles the training
//!   samples with [`Rng`] and steps through them in full batches, so the last `len % BATCH`
//!   samples of each shuffled epoch are left out of that epoch. With the same seed and
//!   [`EPOCHS`] it makes the same steps as `gradwell demo seattle`.
//! - [`Workspace::train_online`] takes each training day once, in date order, as a weather
//!   station would receive it. The day's sample goes into a replay buffer of the last
//!   [`REPLAY`] samples, and once the buffer contains [`BATCH`] samples, every new day trains
//!   one batch drawn from it uniformly with replacement.
//!
//! NOTE: online training scales with the statistics of all training years, which a real
//! station would not know in advance. It would need running statistics or a scaling fixed from
//! past years.
//!
//! Metrics follow `host/src/metrics.rs`: RMSE in °C after undoing the target scaling, rain
//! predicted when the logit is above 0, F1 of "rain" (0 when there is no rain predicted or
//! observed), all accumulated in `f64`.

use core::ops::Range;

use gradwell::weather::{self, Targets};
use gradwell::{Adam, Init, Layer, Rng, StepError, Trainer, Zeroed};
use heapless::Deque;

use crate::hw_sqrt::HwSqrt;
use crate::measure::measure;
use crate::weather_data::{self, Example, Scaling, MAX_TRAINING_SAMPLES};

/// Samples per training batch.
pub const BATCH: usize = 32;
/// Adam learning rate.
pub const LEARNING_RATE: f32 = 1e-3;
/// Epochs of [`Workspace::train_epochs`], the host demo's default.
pub const EPOCHS: usize = 20;
/// Seed of initialisation and shuffling, the host demo's default.
pub const SEED: u64 = 42;
/// Capacity of the replay buffer of [`Workspace::train_online`], in samples.
pub const REPLAY: usize = 128;
/// Names of the tasks, in head order.
pub const TASKS: [&str; 3] = ["temp_max", "temp_min", "rain"];

/// The trainer of both modes, with square roots on the FPU.
pub type WeatherTrainer = Trainer<weather::Model, Adam<HwSqrt>, BATCH>;

/// Each task's mean loss, in head order.
pub type TaskLosses = [f32; 3];

/// Everything training needs, kept in one `static` so that the stack stays small.
pub struct Workspace {
    /// The model being trained.
    pub model: weather::Model,
    /// Optimizer state, gradients and the activations of one batch.
    pub trainer: WeatherTrainer,
    order: [u16; MAX_TRAINING_SAMPLES],
    replay: Deque<Example, REPLAY>,
    x: [[f32; weather::INPUTS]; BATCH],
    targets: [Targets; BATCH],
}

/// Cost of the training steps of one run, in [`crate::board::COUNT_UNIT`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepCost {
    /// Number of steps.
    pub steps: u32,
    /// Sum of their counts.
    pub total: u64,
}

impl StepCost {
    /// Returns the mean count per step, or 0 without steps.
    pub fn per_step(&self) -> u64 {
        self.total.checked_div(u64::from(self.steps)).unwrap_or(0)
    }
}

/// A training step that the trainer rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrainingError {
    /// 1-based epoch, or the calendar year of the sample in online training.
    pub epoch: usize,
    /// Error returned by the trainer.
    pub error: StepError,
}

/// Test-year scores of one rain predictor.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    /// RMSE of temp_max, °C.
    pub temp_max_rmse: f64,
    /// RMSE of temp_min, °C.
    pub temp_min_rmse: f64,
    /// Fraction of days whose rain was predicted right.
    pub rain_accuracy: f64,
    /// F1 score of "rain".
    pub rain_f1: f64,
}

impl Workspace {
    /// Returns the workspace, built in a `static` on the first call; `None` on later calls.
    ///
    /// It is not inlined, so that its temporaries do not enlarge the caller's stack frame.
    #[inline(never)]
    pub fn take() -> Option<&'static mut Self> {
        use core::mem::MaybeUninit;
        use core::sync::atomic::{AtomicBool, Ordering};

        static TAKEN: AtomicBool = AtomicBool::new(false);
        static mut WORKSPACE: MaybeUninit<Workspace> = MaybeUninit::uninit();

        if TAKEN.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: `TAKEN` lets only the first call through, so this is the only reference to
        // `WORKSPACE` there will ever be.
        let slot = unsafe { &mut *core::ptr::addr_of_mut!(WORKSPACE) };
        let workspace = slot.write(Self {
            model: Zeroed::zeroed(),
            trainer: Trainer::new(Adam::pytorch(LEARNING_RATE)),
            order: [0; MAX_TRAINING_SAMPLES],
            replay: Deque::new(),
            x: [[0.0; weather::INPUTS]; BATCH],
            targets: [(None, None, None); BATCH],
        });
        workspace.reset();
        Some(workspace)
    }

    /// Starts again from a new model and trainer, initialised from [`SEED`] as
    /// `build(Init::PyTorch, SEED)` would, but in place instead of on the stack.
    #[inline(never)]
    pub fn reset(&mut self) {
        self.model.init(Init::PyTorch, &mut Rng::new(SEED));
        self.trainer = Trainer::new(Adam::pytorch(LEARNING_RATE));
        self.replay.clear();
    }

    /// Trains for [`EPOCHS`] epochs over `train`, calling `after_epoch` with the epoch and the
    /// training and test losses after it.
    ///
    /// # Errors
    /// A [`TrainingError`] for the first step the trainer rejects.
    pub fn train_epochs(
        &mut self,
        scaling: &Scaling,
        train: Range<usize>,
        test: Range<usize>,
        after_epoch: &mut dyn FnMut(usize, TaskLosses, TaskLosses),
    ) -> Result<StepCost, TrainingError> {
        let count = train.len().min(MAX_TRAINING_SAMPLES);
        for (slot, index) in self.order[..count].iter_mut().zip(0u16..) {
            *slot = index;
        }
        let mut rng = Rng::new(SEED);
        let objective = weather::objective();
        let mut cost = StepCost::default();

        for epoch in 1..=EPOCHS {
            rng.shuffle(&mut self.order[..count]);
            for batch in 0..count / BATCH {
                for slot in 0..BATCH {
                    let index = self.order[batch * BATCH + slot];
                    let example = scaling.example(train.start + usize::from(index));
                    self.x[slot] = example.inputs;
                    self.targets[slot] = example.targets;
                }
                let (result, count) = measure(|| {
                    self.trainer
                        .step(&mut self.model, &self.x, &self.targets, &objective)
                });
                result.map_err(|error| TrainingError { epoch, error })?;
                cost.steps += 1;
                cost.total += count;
            }

            let error = |error| TrainingError { epoch, error };
            let train_losses = self.task_losses(scaling, train.clone()).map_err(error)?;
            let test_losses = self.task_losses(scaling, test.clone()).map_err(error)?;
            after_epoch(epoch, train_losses, test_losses);
        }
        Ok(cost)
    }

    /// Trains on each sample of `train` once, in order, through the replay buffer. Calls
    /// `after_year` with the calendar year and the losses after the last day of each year: the
    /// training loss over the days seen so far and the test loss.
    ///
    /// # Errors
    /// A [`TrainingError`] for the first step the trainer rejects.
    pub fn train_online(
        &mut self,
        scaling: &Scaling,
        train: Range<usize>,
        test: Range<usize>,
        after_year: &mut dyn FnMut(usize, TaskLosses, TaskLosses),
    ) -> Result<StepCost, TrainingError> {
        // A different stream from the epoch mode's shuffling.
        let mut rng = Rng::with_stream(SEED, 1);
        let objective = weather::objective();
        let mut cost = StepCost::default();

        for tomorrow in train.clone() {
            let year = usize::from(weather_data::date(tomorrow).0);
            if self.replay.is_full() {
                self.replay.pop_front();
            }
            // There is room: the oldest sample was just dropped from a full buffer.
            let _ = self.replay.push_back(scaling.example(tomorrow));

            if self.replay.len() >= BATCH {
                let (older, newer) = self.replay.as_slices();
                for slot in 0..BATCH {
                    let pick = rng.below(older.len() as u32 + newer.len() as u32) as usize;
                    let example = if pick < older.len() {
                        older[pick]
                    } else {
                        newer[pick - older.len()]
                    };
                    self.x[slot] = example.inputs;
                    self.targets[slot] = example.targets;
                }
                let (result, count) = measure(|| {
                    self.trainer
                        .step(&mut self.model, &self.x, &self.targets, &objective)
                });
                result.map_err(|error| TrainingError { epoch: year, error })?;
                cost.steps += 1;
                cost.total += count;
            }

            let last_of_year = tomorrow + 1 == train.end
                || weather_data::date(tomorrow + 1).0 != weather_data::date(tomorrow).0;
            if last_of_year {
                let error = |error| TrainingError { epoch: year, error };
                let seen = train.start..tomorrow + 1;
                let train_losses = self.task_losses(scaling, seen).map_err(error)?;
                let test_losses = self.task_losses(scaling, test.clone()).map_err(error)?;
                after_year(year, train_losses, test_losses);
            }
        }
        Ok(cost)
    }

    /// Returns each task's mean loss over `samples` in evaluation mode, in batches of
    /// [`BATCH`] with the last one padded by unlabeled samples, as the host demo computes it.
    fn task_losses(
        &mut self,
        scaling: &Scaling,
        samples: Range<usize>,
    ) -> Result<TaskLosses, StepError> {
        let objective = weather::objective();
        let mut sums = [0.0f64; 3];
        let mut counts = [0usize; 3];
        for start in samples.clone().step_by(BATCH) {
            let mut labeled = 0;
            for slot in 0..BATCH {
                let index = start + slot;
                if index < samples.end {
                    let example = scaling.example(index);
                    self.x[slot] = example.inputs;
                    self.targets[slot] = example.targets;
                    labeled += 1;
                } else {
                    self.x[slot] = [0.0; weather::INPUTS];
                    self.targets[slot] = (None, None, None);
                }
            }
            let losses = self
                .trainer
                .evaluate(&self.model, &self.x, &self.targets, &objective)?;
            for task in 0..3 {
                sums[task] += f64::from(losses[task]) * labeled as f64;
                counts[task] += labeled;
            }
        }
        Ok(core::array::from_fn(|task| {
            if counts[task] == 0 {
                0.0
            } else {
                (sums[task] / counts[task] as f64) as f32
            }
        }))
    }

    /// Scores the model on `test`, one sample at a time. Returns the scores and the mean count
    /// of one forward pass on a batch of 1, in [`crate::board::COUNT_UNIT`].
    pub fn score(&self, scaling: &Scaling, test: Range<usize>) -> (Scores, u64) {
        let mut totals = ScoreTotals::default();
        let mut inference = 0u64;
        for tomorrow in test.clone() {
            let sample = weather_data::sample(tomorrow);
            let mut x = sample.inputs;
            scaling.inputs.apply(&mut x);
            let mut y = [([0.0], [0.0], [0.0])];
            let ((), count) = measure(|| self.model.forward(&[x], &mut y));
            inference += count;

            let (temp_max, temp_min, rain) = y[0];
            let mut temperatures = [temp_max[0], temp_min[0]];
            scaling.temperatures.invert(&mut temperatures);
            totals.add(temperatures, rain[0] > 0.0, &sample.targets);
        }
        let samples = test.len().max(1) as u64;
        (totals.scores(), inference / samples)
    }
}

/// Scores "tomorrow equals today" on `test`: today's temperatures, and rain tomorrow when it
/// rained today.
pub fn persistence_scores(test: Range<usize>) -> Scores {
    let mut totals = ScoreTotals::default();
    for tomorrow in test {
        let sample = weather_data::sample(tomorrow);
        let today = sample.today;
        totals.add(
            [today.temp_max, today.temp_min],
            today.precipitation > 0.0,
            &sample.targets,
        );
    }
    totals.scores()
}

/// Sums behind [`Scores`], accumulated in `f64` like `host/src/metrics.rs`.
#[derive(Default)]
struct ScoreTotals {
    samples: usize,
    squared_errors: [f64; 2],
    correct: usize,
    true_positives: usize,
    false_positives: usize,
    false_negatives: usize,
}

impl ScoreTotals {
    fn add(&mut self, temperatures: [f32; 2], rain: bool, targets: &[f32; 3]) {
        self.samples += 1;
        for (sum, (&predicted, &actual)) in self
            .squared_errors
            .iter_mut()
            .zip(temperatures.iter().zip(targets))
        {
            let d = f64::from(predicted) - f64::from(actual);
            *sum += d * d;
        }
        let rained = targets[2] > 0.5;
        match (rain, rained) {
            (true, true) => self.true_positives += 1,
            (true, false) => self.false_positives += 1,
            (false, true) => self.false_negatives += 1,
            (false, false) => {}
        }
        if rain == rained {
            self.correct += 1;
        }
    }

    fn scores(&self) -> Scores {
        let n = self.samples as f64;
        let denominator = 2 * self.true_positives + self.false_positives + self.false_negatives;
        Scores {
            temp_max_rmse: libm::sqrt(self.squared_errors[0] / n),
            temp_min_rmse: libm::sqrt(self.squared_errors[1] / n),
            rain_accuracy: self.correct as f64 / n,
            rain_f1: if denominator == 0 {
                0.0
            } else {
                (2 * self.true_positives) as f64 / denominator as f64
            },
        }
    }
}

impl defmt::Format for TrainingError {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "training step rejected in epoch or year {=usize}: {}",
            self.epoch,
            defmt::Display2Format(&self.error)
        );
    }
}
