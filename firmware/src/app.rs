//! The demo program: trains the Seattle weather model on the device and scores it on 2015. It
//! only uses the embedded-hal traits, so it runs on every board.
//!
//! 1. It checks that [`hw_sqrt::HwSqrt`] (`vsqrt.f32`) and `libm` give the same bits on
//!    [`SQRT_CHECK_INPUTS`] random inputs and a table of edge cases.
//! 2. It fits the input and target scaling on the 2012–2014 samples.
//! 3. It trains for [`EPOCHS`] epochs over 2012–2014, as the host demo does, and scores the model
//!    on 2015.
//! 4. It trains a new model online, one day at a time over 2012–2014 through a replay buffer,
//!    and scores it on 2015.
//! 5. It logs the table of both models beside "tomorrow equals today", and the cost of a
//!    training step and of an inference.
//!
//! The status LED toggles after every epoch and every year of online training. Lines that start
//! with `metric ` carry one figure each as `metric NAME=VALUE`, for `cargo xtask demo --json`.

use core::mem::size_of;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use gradwell::weather;

use crate::board;
use crate::hw_sqrt::{self, Mismatch};
use crate::weather_data::{self, Scaling, TEST_YEAR};
use crate::weather_training::{
    persistence_scores, Scores, TaskLosses, TrainingError, WeatherTrainer, Workspace, BATCH,
    EPOCHS, LEARNING_RATE, REPLAY, SEED, TASKS,
};

/// Random inputs on which [`hw_sqrt::HwSqrt`] must match `libm`, beside the edge cases.
pub const SQRT_CHECK_INPUTS: u32 = 100_000;

/// Failure of the demo.
#[derive(Debug)]
pub enum DemoError<E> {
    /// The status LED returned an error.
    Led(E),
    /// `vsqrt.f32` and `libm` differ on an input.
    Sqrt(Mismatch),
    /// The workspace was already taken, because `run` was called twice.
    WorkspaceTaken,
    /// The trainer rejected a step.
    Training {
        /// `epochs` or `online`.
        mode: &'static str,
        /// The rejected step.
        error: TrainingError,
    },
    /// The model trained for epochs did not beat "tomorrow equals today" on both
    /// temperatures.
    NotBetterThanPersistence,
}

impl<E> defmt::Format for DemoError<E> {
    fn format(&self, f: defmt::Formatter) {
        match self {
            Self::Led(_) => defmt::write!(f, "the status LED failed"),
            Self::Sqrt(mismatch) => defmt::write!(
                f,
                "vsqrt.f32 and libm differ for input {=u32:#x}: {=u32:#x} against {=u32:#x}",
                mismatch.input,
                mismatch.hardware,
                mismatch.libm
            ),
            Self::WorkspaceTaken => defmt::write!(f, "the training workspace is already in use"),
            Self::Training { mode, error } => {
                defmt::write!(f, "{=str} training failed: {}", mode, error)
            }
            Self::NotBetterThanPersistence => defmt::write!(
                f,
                "the model's {=u16} RMSE does not beat \"tomorrow equals today\" for both temperatures",
                TEST_YEAR
            ),
        }
    }
}

/// Runs the demo; see the module documentation.
///
/// # Errors
/// A [`DemoError`] for the first check that fails.
pub fn run<L: OutputPin, D: DelayNs>(
    led: &mut L,
    delay: &mut D,
) -> Result<(), DemoError<L::Error>> {
    let mut status = Status { led, on: false };
    status.blink(delay, 3)?;

    let (compared, count) =
        crate::measure::measure(|| hw_sqrt::check_against_libm(SQRT_CHECK_INPUTS, SEED));
    let compared = compared.map_err(DemoError::Sqrt)?;
    defmt::info!(
        "vsqrt.f32 and libm agree on {=u32} inputs ({=u64} {=str})",
        compared,
        count,
        board::COUNT_UNIT
    );
    defmt::info!("metric sqrt_inputs_checked={=u32}", compared);

    let (train, test) = weather_data::split();
    defmt::info!(
        "Seattle weather: {=usize} days in flash from {=u16}; {=usize} training samples (tomorrow before {=u16}), {=usize} test samples",
        weather_data::READINGS.len(),
        weather_data::FIRST_YEAR,
        train.len(),
        TEST_YEAR,
        test.len()
    );
    let scaling = Scaling::fit(train.clone());
    let workspace = Workspace::take().ok_or(DemoError::WorkspaceTaken)?;
    let sizes = [
        ("model_bytes", size_of::<weather::Model>()),
        ("trainer_bytes", size_of::<WeatherTrainer>()),
        ("workspace_bytes", size_of::<Workspace>()),
    ];
    defmt::info!(
        "static workspace: model {=usize} bytes, trainer (gradients, Adam moments, activations of a batch of {=usize}) {=usize} bytes, all buffers {=usize} bytes",
        sizes[0].1,
        BATCH,
        sizes[1].1,
        sizes[2].1
    );
    for (name, bytes) in sizes {
        defmt::info!("metric {=str}={=usize}", name, bytes);
    }

    defmt::info!(
        "training for {=usize} epochs: batch {=usize}, Adam lr {=f32}, seed {=u64}",
        EPOCHS,
        BATCH,
        LEARNING_RATE,
        SEED
    );
    let mut led_error = None;
    let epoch_cost = workspace
        .train_epochs(
            &scaling,
            train.clone(),
            test.clone(),
            &mut |epoch, train_losses, test_losses| {
                log_losses("epoch", epoch, &train_losses, &test_losses);
                if let Err(error) = status.toggle() {
                    led_error.get_or_insert(error);
                }
            },
        )
        .map_err(|error| DemoError::Training {
            mode: "epochs",
            error,
        })?;
    if let Some(error) = led_error.take() {
        return Err(error);
    }
    let (epoch_scores, inference) = workspace.score(&scaling, test.clone());

    defmt::info!(
        "training online: one day at a time over the training years, a batch of {=usize} from the last {=usize} days each day",
        BATCH,
        REPLAY
    );
    workspace.reset();
    let online_cost = workspace
        .train_online(
            &scaling,
            train.clone(),
            test.clone(),
            &mut |year, train_losses, test_losses| {
                log_losses("online, after", year, &train_losses, &test_losses);
                if let Err(error) = status.toggle() {
                    led_error.get_or_insert(error);
                }
            },
        )
        .map_err(|error| DemoError::Training {
            mode: "online",
            error,
        })?;
    if let Some(error) = led_error {
        return Err(error);
    }
    let (online_scores, _) = workspace.score(&scaling, test.clone());
    let persistence = persistence_scores(test);

    log_table(&epoch_scores, &online_scores, &persistence);
    defmt::info!(
        "training step (batch of {=usize}): {=u64} {=str}, mean of {=u32} steps; inference (batch of 1): {=u64} {=str}",
        BATCH,
        epoch_cost.per_step(),
        board::COUNT_UNIT,
        epoch_cost.steps,
        inference,
        board::COUNT_UNIT
    );
    defmt::info!(
        "metric train_step_{=str}={=u64}",
        board::COUNT_UNIT,
        epoch_cost.per_step()
    );
    defmt::info!(
        "metric inference_{=str}={=u64}",
        board::COUNT_UNIT,
        inference
    );
    defmt::info!("metric epoch_steps={=u32}", epoch_cost.steps);
    defmt::info!("metric online_steps={=u32}", online_cost.steps);

    let beats = |model: f64, baseline: f64| model < baseline;
    if beats(epoch_scores.temp_max_rmse, persistence.temp_max_rmse)
        && beats(epoch_scores.temp_min_rmse, persistence.temp_min_rmse)
    {
        Ok(())
    } else {
        Err(DemoError::NotBetterThanPersistence)
    }
}

/// The status LED and whether it is on.
struct Status<'a, L> {
    led: &'a mut L,
    on: bool,
}

impl<L: OutputPin> Status<'_, L> {
    fn toggle(&mut self) -> Result<(), DemoError<L::Error>> {
        self.on = !self.on;
        let result = if self.on {
            self.led.set_high()
        } else {
            self.led.set_low()
        };
        result.map_err(DemoError::Led)
    }

    fn blink<D: DelayNs>(
        &mut self,
        delay: &mut D,
        times: usize,
    ) -> Result<(), DemoError<L::Error>> {
        for _ in 0..2 * times {
            self.toggle()?;
            delay.delay_us(100);
        }
        Ok(())
    }
}

fn log_losses(label: &str, number: usize, train: &TaskLosses, test: &TaskLosses) {
    defmt::info!(
        "{=str} {=usize}: train loss {=str} {=f32}, {=str} {=f32}, {=str} {=f32}; test loss {=str} {=f32}, {=str} {=f32}, {=str} {=f32}",
        label,
        number,
        TASKS[0],
        train[0],
        TASKS[1],
        train[1],
        TASKS[2],
        train[2],
        TASKS[0],
        test[0],
        TASKS[1],
        test[1],
        TASKS[2],
        test[2],
    );
}

fn log_table(epochs: &Scores, online: &Scores, persistence: &Scores) {
    defmt::info!(
        "{=u16} test metrics: epochs | online | tomorrow equals today",
        TEST_YEAR
    );
    let rows: [(&str, &str, fn(&Scores) -> f64); 4] = [
        ("temp_max RMSE (°C)", "temp_max_rmse", |s| s.temp_max_rmse),
        ("temp_min RMSE (°C)", "temp_min_rmse", |s| s.temp_min_rmse),
        ("rain accuracy", "rain_accuracy", |s| s.rain_accuracy),
        ("rain F1", "rain_f1", |s| s.rain_f1),
    ];
    for (label, _, value) in rows {
        defmt::info!(
            "{=str}: {=f64} | {=f64} | {=f64}",
            label,
            value(epochs),
            value(online),
            value(persistence)
        );
    }
    for (_, name, value) in rows {
        for (model, scores) in [
            ("epochs", epochs),
            ("online", online),
            ("persistence", persistence),
        ] {
            defmt::info!("metric {=str}.{=str}={=f64}", model, name, value(scores));
        }
    }
}
