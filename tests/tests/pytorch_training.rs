//! Parity with PyTorch over whole training runs: 100 steps on Seattle weather batches, with
//! parameters and batch-norm running statistics compared every 10 steps and task losses and
//! gradient norms every step.
//!
//! `golden/training/generate.py` trains the same models in PyTorch from its default
//! initialisation and writes `golden/training/pytorch.json`. The tests here load its initial
//! tensors into gradwell and replay the run with `Trainer`.

mod training;

use gradwell::{
    seq, Adam, BatchNorm, Decay, Dense, GradientClip, Mse, MultiTask, Relu, Residual, Schedule,
    SgdMomentum, Skip, Tanh, Task, Trainer, Zeroed,
};
use training::{
    assert_matches, batches, find_run, read_golden, replay, GoldenFile, Tolerance, Tolerances,
    BATCH,
};

const GOLDEN_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/training/pytorch.json");
const REGENERATE: &str = "python3 tests/golden/training/generate.py";

/// Tolerances for the Adam run, `adam_multi_task`.
///
/// PyTorch's matrix products (`addmm`) sum in another order than gradwell's loops, so each
/// step's gradients differ by a few float32 ulps. Adam divides each update by `√v̂ + ε`, so a
/// relative error in a gradient becomes about the same relative error in an update of at most
/// `lr = 1e-3`. Measured with torch 2.15: parameters 4.5e-8 apart after 100 steps (3.0e-8 after
/// 10), task losses 3.6e-7 and gradient norms 1.4e-6 (on norms of 0.3 to 7). The bounds leave a
/// margin of about 10 for other BLAS kernels. A missing bias correction would move a parameter
/// by about 2e-3 in the first step, and a loss averaged over the wrong count shows in the task
/// losses.
const ADAM_TOLERANCES: Tolerances = Tolerances {
    parameters: Tolerance {
        absolute: 1e-6,
        relative: 1e-6,
    },
    buffers: Tolerance {
        absolute: 1e-6,
        relative: 1e-6,
    },
    losses: Tolerance {
        absolute: 1e-6,
        relative: 2e-6,
    },
    grad_norms: Tolerance {
        absolute: 1e-6,
        relative: 2e-6,
    },
};

/// Tolerances for the SGD run with batch normalisation, residual blocks, gradient clipping
/// and linear decay, `sgd_residual_batch_norm`.
///
/// Besides summation order, PyTorch's CPU batch-norm kernel accumulates the batch statistics
/// in float64 where gradwell uses float32, and `LambdaLR` scales the learning rate in float64
/// where gradwell scales it in float32. With momentum the differences add up. Measured with
/// torch 2.15: tensors 7.5e-8 apart after 10 steps, parameters at most 2.5e-7, running
/// statistics 6.9e-7 (values up to 0.5), task losses 8.0e-7 and gradient norms 8.1e-6 (on
/// norms of 0.5 to 7, so about 3e-6 relative). The bounds leave a margin of about 5 to 10.
const SGD_TOLERANCES: Tolerances = Tolerances {
    parameters: Tolerance {
        absolute: 2e-6,
        relative: 2e-6,
    },
    buffers: Tolerance {
        absolute: 5e-6,
        relative: 2e-6,
    },
    losses: Tolerance {
        absolute: 2e-6,
        relative: 5e-6,
    },
    grad_norms: Tolerance {
        absolute: 1e-6,
        relative: 1e-5,
    },
};

/// The two-head weather model of the `adam_multi_task` run.
type TwoHeads =
    MultiTask<seq![Dense<10, 64, Relu>, Dense<64, 32, Relu>], (Dense<32, 1>, Dense<32, 1>)>;

/// `x + Linear(BatchNorm1d(tanh(Linear(x))))` over 32 features.
type Block = Residual<seq![Dense<32, 32, Tanh>, BatchNorm<32>, Dense<32, 32>], Skip<32>>;

/// The model of the `sgd_residual_batch_norm` run.
type Deep = seq![Dense<10, 32, Relu>, Block, Block, Dense<32, 2>];

fn golden() -> GoldenFile {
    read_golden(GOLDEN_PATH, REGENERATE)
}

#[test]
fn adam_multi_task_matches_pytorch() {
    let golden = golden();
    let run = find_run(&golden, "adam_multi_task");
    let mut model = TwoHeads::zeroed();
    let mut trainer = Trainer::<TwoHeads, Adam, BATCH>::new(Adam::pytorch(1e-3));
    let objective = (Task::new(Mse), Task::new(Mse));

    let report = replay(
        run,
        &batches(),
        &mut model,
        &mut trainer,
        &objective,
        |t| (Some([t[0]]), Some([t[1]])),
        &ADAM_TOLERANCES,
    );

    assert_matches(run, &report);
    assert_eq!(trainer.step, 100);
}

#[test]
fn sgd_residual_batch_norm_matches_pytorch() {
    let golden = golden();
    let run = find_run(&golden, "sgd_residual_batch_norm");
    let mut model = Deep::zeroed();
    let mut trainer = Trainer::<Deep, SgdMomentum, BATCH>::new(SgdMomentum::new(0.05, 0.9));
    trainer.clip = GradientClip::Norm(1.0);
    trainer.schedule = Schedule::new(Decay::Linear { steps: 100 });

    let report = replay(
        run,
        &batches(),
        &mut model,
        &mut trainer,
        &Task::new(Mse),
        |t| *t,
        &SGD_TOLERANCES,
    );

    assert_matches(run, &report);
    assert_eq!(trainer.step, 100);
}
