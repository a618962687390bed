//! The firmware's demo model, [`gradwell::weather::Model`], after [`STEPS`] Adam steps on
//! batches of [`BATCH`] synthetic days.
//!
//! Model, optimizer state and cache take about 76 KB, more than a microcontroller's usual
//! stack. So the caller provides a [`WeatherRun`] where it has room. The firmware runs the case
//! on a stack of its own, and the desktop keeps it in a `Box`.
//!
//! Adam's square root comes from the backend `S`: [`Libm`] here, and on the Cortex-M4F also the
//! `vsqrt.f32` instruction. Both are correctly rounded as IEEE-754 requires, so both runs must
//! give the host's bits; the firmware reports the second as [`HW_SQRT_NAME`].

use gradwell::weather::{self, Model, Targets, INPUTS};
use gradwell::{Adam, Init, Layer, Libm, Rng, Sqrt, Tensors, Trainer};

use crate::run::{train, uniform, Sampler};
use crate::Sink;

/// Name of the case in reports.
pub const NAME: &str = "weather_adam";

/// Name of the same case run with a hardware square root, which must give the same bits.
pub const HW_SQRT_NAME: &str = "weather_adam_hw_sqrt";

/// Training steps.
pub const STEPS: usize = 20;

/// Samples per batch.
pub const BATCH: usize = 32;

/// Seed of the model.
const MODEL_SEED: u64 = 2024;

/// Seed of the data generator.
const DATA_SEED: u64 = 11;

/// Learning rate of Adam (PyTorch convention).
const LEARNING_RATE: f32 = 1e-3;

/// Model and trainer of the weather case, with Adam's square root from `S`.
pub struct WeatherRun<S: Sqrt = Libm> {
    model: Model,
    trainer: Trainer<Model, Adam<S>, BATCH>,
}

impl<S: Sqrt> WeatherRun<S> {
    /// Creates the model and trainer. The value is large: create it where it may live, such as
    /// a `static` cell or a `Box`.
    pub fn new() -> Self {
        Self {
            model: gradwell::build(Init::PyTorch, MODEL_SEED),
            trainer: Trainer::new(Adam::<S>::pytorch(LEARNING_RATE)),
        }
    }

    /// Resets the model and trainer in place to the state of [`WeatherRun::new`].
    fn reset(&mut self) {
        self.model.init(Init::PyTorch, &mut Rng::new(MODEL_SEED));
        self.trainer.state.fill_zero();
        self.trainer.step = 0;
    }
}

impl<S: Sqrt> Default for WeatherRun<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// Trains the demo model for [`STEPS`] steps from its seed and hands every value to `sink`.
/// Starts from the same state each time it is called.
pub fn run<S: Sqrt>(state: &mut WeatherRun<S>, sink: &mut dyn Sink) {
    state.reset();
    let sample: Sampler<[f32; INPUTS], Targets> = |rng| {
        let x: [f32; INPUTS] = uniform(rng);
        let temperature = 0.8 * x[0] + 0.2 * x[3];
        let rain_amount = (x[1] - x[4]).max(0.0);
        let rain = f32::from(u8::from(x[1] > x[4]));
        // Every fourth day lacks the temperature, as days with a missing reading do.
        let temperature = (rng.below(4) != 0).then_some([temperature]);
        (x, (temperature, Some([rain_amount]), Some([rain])))
    };
    train(
        sink,
        &mut state.model,
        &mut state.trainer,
        &weather::objective(),
        STEPS,
        DATA_SEED,
        sample,
    );
}
