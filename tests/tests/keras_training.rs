//! Parity with Keras over a whole training run: 50 Adam steps of a model with Keras batch
//! normalisation on Seattle weather batches, with weights and moving statistics compared every
//! 10 steps and the loss and gradient norm every step.
//!
//! `golden/training/generate_keras.py` trains the model in Keras 3 (TensorFlow backend) from
//! Glorot-uniform weights and writes `golden/training/keras.json` in gradwell's names and
//! layout. The test here loads its initial weights into gradwell and replays the run with
//! `Trainer`, `Adam::keras` and `BatchNorm<32, KerasBatchNorm>`.

mod training;

use gradwell::{seq, Adam, BatchNorm, Dense, KerasBatchNorm, Mse, Tanh, Task, Trainer, Zeroed};
use training::{
    assert_matches, batches, find_run, read_golden, replay, GoldenFile, Tolerance, Tolerances,
    BATCH,
};

const GOLDEN_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/training/keras.json");
const REGENERATE: &str = "python3 tests/golden/training/generate_keras.py";

/// Tolerances for the Keras run, `adam_batch_norm`.
///
/// Summation order (oneDNN and Eigen against gradwell's loops) makes each step's gradients
/// differ by a few float32 ulps, as with PyTorch. `Adam::keras` computes the bias corrections in
/// float32 from `β` rounded to float32, as Keras 3 does. Measured with Keras 3.15.1 and
/// TensorFlow 2.21: parameters 2.1e-7 apart after 50 steps and task losses and gradient norms
/// 1.4e-6 (see the test output for the current figures). The bounds leave a margin of a few
/// times over those.
const KERAS_TOLERANCES: Tolerances = Tolerances {
    parameters: Tolerance {
        absolute: 2e-6,
        relative: 2e-6,
    },
    buffers: Tolerance {
        absolute: 1e-6,
        relative: 1e-6,
    },
    losses: Tolerance {
        absolute: 1e-6,
        relative: 3e-6,
    },
    grad_norms: Tolerance {
        absolute: 1e-6,
        relative: 3e-6,
    },
};

/// `Dense(32, tanh) → BatchNormalization() → Dense(2)`.
type Model = seq![Dense<10, 32, Tanh>, BatchNorm<32, KerasBatchNorm>, Dense<32, 2>];

#[test]
fn adam_batch_norm_matches_keras() {
    let golden: GoldenFile = read_golden(GOLDEN_PATH, REGENERATE);
    let run = find_run(&golden, "adam_batch_norm");
    let mut model = Model::zeroed();
    let mut trainer = Trainer::<Model, Adam, BATCH>::new(Adam::keras(1e-3));

    let report = replay(
        run,
        &batches(),
        &mut model,
        &mut trainer,
        &Task::new(Mse),
        |t| *t,
        &KERAS_TOLERANCES,
    );

    assert_matches(run, &report);
    assert_eq!(trainer.step, 50);
}
