//! Speed of the two-head weather model on the host: inference, forward and backward, and a
//! whole training step.
//!
//! The model is the 10 → 64 → 32 trunk with two `Dense<32, 1>` heads (2,850 parameters), the
//! one the PyTorch and Keras parity tests train. Run with
//!
//! ```text
//! cargo bench -p gradwell --bench training
//! ```
//!
//! and see `docs/benchmarks.md` for the figures and how they compare with PyTorch and Keras.
//! Criterion reports throughput in samples (`elem/s`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gradwell::{
    seq, Adam, Dense, Init, Layer, Mode, Mse, MultiTask, Relu, Rng, Task, Trainer, Zeroed,
};

/// The two-head model of the parity tests.
type TwoHeads =
    MultiTask<seq![Dense<10, 64, Relu>, Dense<64, 32, Relu>], (Dense<32, 1>, Dense<32, 1>)>;

/// One sample's targets for the two heads.
type Targets = (Option<[f32; 1]>, Option<[f32; 1]>);

/// Output of one sample: one value per head.
type Output = ([f32; 1], [f32; 1]);

const SEED: u64 = 7;

fn model() -> TwoHeads {
    gradwell::build(Init::PyTorch, SEED)
}

/// Returns `B` inputs drawn uniformly from [−2, 2], the range of z-scored readings.
fn inputs<const B: usize>(rng: &mut Rng) -> [[f32; 10]; B] {
    core::array::from_fn(|_| core::array::from_fn(|_| rng.uniform(-2.0, 2.0)))
}

fn targets<const B: usize>(rng: &mut Rng) -> [Targets; B] {
    core::array::from_fn(|_| {
        (
            Some([rng.uniform(-2.0, 2.0)]),
            Some([rng.uniform(-2.0, 2.0)]),
        )
    })
}

/// Times inference on a batch of `B` samples.
fn forward<const B: usize>(c: &mut Criterion) {
    let model = model();
    let x = inputs::<B>(&mut Rng::new(SEED));
    let mut y = [Output::zeroed(); B];

    let mut group = c.benchmark_group("forward");
    group.throughput(Throughput::Elements(B as u64));
    group.bench_function(BenchmarkId::new("batch", B), |bencher| {
        bencher.iter(|| {
            model.forward(black_box(&x), &mut y);
            black_box(&y);
        })
    });
    group.finish();
}

/// Times a training-mode forward pass and the backward pass down to the parameter gradients,
/// as a training step runs them, without the loss and the update.
fn forward_backward<const B: usize>(c: &mut Criterion) {
    let model = model();
    let x = inputs::<B>(&mut Rng::new(SEED));
    let mut y = [Output::zeroed(); B];
    let mut cache = <TwoHeads as Layer>::Cache::<B>::zeroed();
    let mut grads = <TwoHeads as Layer>::Grads::zeroed();
    let upstream = [([0.5f32], [-0.5f32]); B];

    let mut group = c.benchmark_group("forward_backward");
    group.throughput(Throughput::Elements(B as u64));
    group.bench_function(BenchmarkId::new("batch", B), |bencher| {
        bencher.iter(|| {
            model
                .forward_train(black_box(&x), &mut y, &mut cache, Mode::Train)
                .expect("a model without batch normalisation trains on any batch size");
            let mut dy = upstream;
            model.backward(&x, &y, &mut cache, &mut dy, None, Some(&mut grads));
            black_box(&grads);
        })
    });
    group.finish();
}

/// Times a whole `Trainer::step` with Adam and batch 32: checks, forward, both losses,
/// backward, gradient norms and the update.
fn training_step(c: &mut Criterion) {
    const B: usize = 32;
    let mut model = model();
    let mut rng = Rng::new(SEED);
    let x = inputs::<B>(&mut rng);
    let t = targets::<B>(&mut rng);
    let objective = (Task::new(Mse), Task::new(Mse));
    let mut trainer = Trainer::<TwoHeads, Adam, B>::new(Adam::pytorch(1e-3));

    let mut group = c.benchmark_group("training_step");
    group.throughput(Throughput::Elements(B as u64));
    group.bench_function(BenchmarkId::new("adam_batch", B), |bencher| {
        bencher.iter(|| {
            let report = trainer
                .step(&mut model, black_box(&x), &t, &objective)
                .expect("a finite batch trains");
            black_box(report);
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    forward::<1>,
    forward::<32>,
    forward_backward::<1>,
    forward_backward::<32>,
    training_step
);
criterion_main!(benches);
