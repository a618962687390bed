//! The cases: each builds a model from a fixed seed, runs it on data from a fixed seed and hands
//! every resulting value to a [`Sink`].

use gradwell::objective::Weighting;
use gradwell::{
    build, seq, Adam, BatchNorm, BinaryCrossEntropy, Decay, Dense, Frozen, GradientClip, Huber,
    Init, KerasBatchNorm, LeakyRelu, Mae, Mode, Mse, MultiTask, Optimizer, Relu, Residual, Rng,
    Schedule, Sgd, SgdMomentum, Sigmoid, Skip, SoftmaxCrossEntropy, Tanh, Task, Trainer,
};

use gradwell::{Layer, Tensors, Zeroed};

use crate::run::{layer_step, train, uniform, Sampler};
use crate::{Case, Sink};

/// Seed of every model.
const MODEL_SEED: u64 = 2024;

/// Seed of every training data generator.
const DATA_SEED: u64 = 7;

/// Batch size of the layer and training cases.
const BATCH: usize = 4;

/// Training steps of each training case.
const STEPS: usize = 5;

/// The model of the loss cases: 4 inputs, 3 outputs.
type LossNet = seq![Dense<4, 8, Tanh>, Dense<8, 3>];

/// The model of the optimizer, clipping and schedule cases: 4 inputs, 2 outputs, with batch
/// normalisation so that running statistics are compared too.
type OptimNet = seq![Dense<4, 8, Relu>, BatchNorm<8>, Dense<8, 2>];

/// Heads of the multi-task cases: a regression, a probability and a pair.
type Heads = (Dense<6, 1>, Dense<6, 1, Sigmoid>, Dense<6, 2>);

/// Every case except [`crate::weather`], which needs more memory than a stack offers.
pub const CASES: &[Case] = &[
    case("dense_identity", layer_case::<Dense<5, 3>, BATCH>),
    case("dense_relu", layer_case::<Dense<5, 3, Relu>, BATCH>),
    case(
        "dense_leaky_relu",
        layer_case::<Dense<5, 3, LeakyRelu>, BATCH>,
    ),
    case("dense_sigmoid", layer_case::<Dense<5, 3, Sigmoid>, BATCH>),
    case("dense_tanh", layer_case::<Dense<5, 3, Tanh>, BATCH>),
    case("batch_norm_train", layer_case::<BatchNorm<4>, BATCH>),
    case("batch_norm_eval", batch_norm_eval),
    case(
        "batch_norm_keras_train",
        layer_case::<BatchNorm<4, KerasBatchNorm>, BATCH>,
    ),
    case(
        "dense_batch_norm_chain",
        layer_case::<seq![Dense<4, 6>, BatchNorm<6>, Dense<6, 2, Tanh>], BATCH>,
    ),
    case(
        "residual_identity",
        layer_case::<Residual<seq![Dense<4, 6, Tanh>, Dense<6, 4>], Skip<4>>, BATCH>,
    ),
    case(
        "residual_projected",
        layer_case::<Residual<seq![Dense<3, 5, Relu>, Dense<5, 2>], Dense<3, 2>>, BATCH>,
    ),
    case(
        "multi_task",
        layer_case::<MultiTask<Dense<4, 6, Relu>, Heads>, BATCH>,
    ),
    case(
        "multi_task_frozen_trunk",
        layer_case::<MultiTask<Frozen<seq![Dense<4, 6, Relu>, BatchNorm<6>]>, Heads>, BATCH>,
    ),
    case("loss_mse", loss_mse),
    case("loss_mae", loss_mae),
    case("loss_huber", loss_huber),
    case("loss_binary_cross_entropy", loss_binary_cross_entropy),
    case("loss_softmax_cross_entropy", loss_softmax_cross_entropy),
    case("sgd", |sink| optim(sink, Sgd::new(0.1), configure_none)),
    case("sgd_momentum", |sink| {
        optim(sink, SgdMomentum::new(0.05, 0.9), configure_none)
    }),
    case("sgd_nesterov", |sink| {
        optim(sink, SgdMomentum::nesterov(0.05, 0.9), configure_none)
    }),
    case("adam_pytorch", |sink| {
        optim(sink, <Adam>::pytorch(0.01), configure_none)
    }),
    case("adam_keras", |sink| {
        optim(sink, <Adam>::keras(0.01), configure_none)
    }),
    case("adam_l2_weight_decay", |sink| {
        optim(
            sink,
            <Adam>::pytorch(0.01).with_weight_decay(0.05),
            configure_none,
        )
    }),
    case("adamw", |sink| {
        optim(
            sink,
            <Adam>::adamw_pytorch(0.01).with_weight_decay(0.05),
            configure_none,
        )
    }),
    case("clip_value", |sink| {
        optim(sink, <Adam>::pytorch(0.01), |trainer| {
            trainer.clip = GradientClip::Value(0.05)
        })
    }),
    case("clip_norm", |sink| {
        optim(sink, <Adam>::pytorch(0.01), |trainer| {
            trainer.clip = GradientClip::Norm(0.1)
        })
    }),
    case("weight_clip", |sink| {
        optim(sink, Sgd::new(0.5), |trainer| {
            trainer.weight_clip = Some(0.3)
        })
    }),
    case("schedule_linear_warmup", |sink| {
        optim(sink, <Adam>::pytorch(0.01), |trainer| {
            trainer.schedule = Schedule::new(Decay::Linear { steps: 4 }).with_warmup(2)
        })
    }),
    case("schedule_step", |sink| {
        optim(sink, Sgd::new(0.1), |trainer| {
            trainer.schedule = Schedule::new(Decay::Step {
                step_size: 2,
                gamma: 0.3,
            })
        })
    }),
    case("schedule_exponential", |sink| {
        optim(sink, Sgd::new(0.1), |trainer| {
            trainer.schedule = Schedule::new(Decay::Exponential { gamma: 0.9 })
        })
    }),
    case("schedule_cosine", |sink| {
        optim(sink, <Adam>::pytorch(0.01), |trainer| {
            trainer.schedule = Schedule::new(Decay::Cosine {
                steps: 4,
                min_factor: 0.1,
            })
        })
    }),
    case("multi_task_fixed_weights", |sink| {
        multi_task(sink, Weighting::Fixed)
    }),
    case("multi_task_uncertainty_weights", |sink| {
        multi_task(sink, Weighting::Uncertainty)
    }),
];

const fn case(name: &'static str, run: fn(&mut dyn Sink)) -> Case {
    Case { name, run }
}

/// Batch normalisation in evaluation mode, after one training step has moved its running
/// statistics away from 0 and 1.
fn batch_norm_eval(sink: &mut dyn Sink) {
    let mut model: BatchNorm<4> = build(Init::PyTorch, MODEL_SEED);
    let mut rng = Rng::with_stream(MODEL_SEED, 1);
    layer_step::<_, BATCH>(sink, &mut model, &mut rng, Mode::Train);
    layer_step::<_, BATCH>(sink, &mut model, &mut rng, Mode::Eval);
}

/// Builds `L` from [`MODEL_SEED`] and runs [`layer_step`] in training mode.
fn layer_case<L, const B: usize>(sink: &mut dyn Sink)
where
    L: Layer + Zeroed,
    L::Input: Tensors,
    L::Output: Tensors,
{
    let mut model: L = build(Init::PyTorch, MODEL_SEED);
    let mut rng = Rng::with_stream(MODEL_SEED, 1);
    layer_step::<L, B>(sink, &mut model, &mut rng, Mode::Train);
}

/// Trains [`LossNet`] with `objective` and SGD.
fn loss_case<J: gradwell::objective::Objective<[f32; 3]>>(
    sink: &mut dyn Sink,
    objective: J,
    sample: Sampler<[f32; 4], J::Target>,
) {
    let mut model: LossNet = build(Init::PyTorch, MODEL_SEED);
    let mut trainer = Trainer::<LossNet, Sgd, BATCH>::new(Sgd::new(0.1));
    train(
        sink,
        &mut model,
        &mut trainer,
        &objective,
        STEPS,
        DATA_SEED,
        sample,
    );
}

fn regression_sample(rng: &mut Rng) -> ([f32; 4], [f32; 3]) {
    let x: [f32; 4] = uniform(rng);
    let target = [x[0] + x[1], x[2] * x[3], 2.0 * x[0] - 1.5];
    (x, target)
}

fn loss_mse(sink: &mut dyn Sink) {
    loss_case(sink, Task::new(Mse), regression_sample);
}

fn loss_mae(sink: &mut dyn Sink) {
    loss_case(sink, Task::new(Mae), regression_sample);
}

fn loss_huber(sink: &mut dyn Sink) {
    loss_case(sink, Task::new(Huber { delta: 0.5 }), regression_sample);
}

fn loss_binary_cross_entropy(sink: &mut dyn Sink) {
    loss_case(sink, Task::new(BinaryCrossEntropy), |rng| {
        let x: [f32; 4] = uniform(rng);
        let target = [
            f32::from(u8::from(x[0] > 0.0)),
            f32::from(u8::from(x[1] + x[2] > 0.0)),
            0.25,
        ];
        (x, target)
    });
}

fn loss_softmax_cross_entropy(sink: &mut dyn Sink) {
    loss_case(sink, Task::new(SoftmaxCrossEntropy), |rng| {
        let x: [f32; 4] = uniform(rng);
        (x, rng.below(3))
    });
}

/// Trains [`OptimNet`] with `optimizer` and MSE, after `configure` has set clipping or a
/// schedule.
fn optim<O: Optimizer>(
    sink: &mut dyn Sink,
    optimizer: O,
    configure: fn(&mut Trainer<OptimNet, O, BATCH>),
) {
    let mut model: OptimNet = build(Init::PyTorch, MODEL_SEED);
    let mut trainer = Trainer::<OptimNet, O, BATCH>::new(optimizer);
    configure(&mut trainer);
    let sample: Sampler<[f32; 4], [f32; 2]> = |rng| {
        let x: [f32; 4] = uniform(rng);
        (x, [3.0 * x[0] - x[3], x[1] * x[2] + 0.5])
    };
    train(
        sink,
        &mut model,
        &mut trainer,
        &Task::new(Mse),
        STEPS,
        DATA_SEED,
        sample,
    );
}

fn configure_none<O: Optimizer>(_trainer: &mut Trainer<OptimNet, O, BATCH>) {}

/// Trains a three-task model with MSE, MAE and binary cross-entropy; every third sample lacks
/// the first target.
fn multi_task(sink: &mut dyn Sink, weighting: Weighting) {
    type Model = MultiTask<seq![Dense<4, 6, Relu>, Dense<6, 6, Tanh>], Heads3>;
    type Heads3 = (Dense<6, 1>, Dense<6, 2>, Dense<6, 1>);

    let mut model: Model = build(Init::GlorotUniform, MODEL_SEED);
    let mut trainer = Trainer::<Model, Adam, BATCH>::new(<Adam>::keras(0.02));
    trainer.weighting = weighting;
    let objective = (
        Task::new(Mse),
        Task::new(Mae).weighted(0.5),
        Task::new(BinaryCrossEntropy).weighted(2.0),
    );
    let sample = |rng: &mut Rng| {
        let x: [f32; 4] = uniform(rng);
        let first = (rng.below(3) != 0).then_some([x[0] - x[1]]);
        (
            x,
            (
                first,
                Some([x[2], -x[3]]),
                Some([f32::from(u8::from(x[0] * x[3] > 0.0))]),
            ),
        )
    };
    train(
        sink,
        &mut model,
        &mut trainer,
        &objective,
        STEPS,
        DATA_SEED,
        sample,
    );
    crate::run::emit_tensors(sink, "log variances", &trainer.log_variances.0);
}
