//! One training run of one configuration and seed: gradient-norm probes at initialisation,
//! SGD training with the configuration's clipping and schedule, and the test RMSE.

use gradwell::layer::Layer;
use gradwell::objective::Objective;
use gradwell::weather::INPUTS;
use gradwell::{
    build, Decay, GradientClip, Init, Rng, Schedule, Sgd, StepReport, TensorKind, Trainer, Zeroed,
};

use super::data::{Sample, WeatherData};
use super::SeedRun;

/// Samples per batch.
pub const BATCH: usize = 32;
/// Batches averaged for the gradient norms at initialisation.
pub const PROBE_BATCHES: usize = 8;
/// Points on each loss curve; each point is the mean training loss over its window of steps.
pub const LOSS_POINTS: usize = 50;

/// Everything that differs between runs besides the model type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunSpec {
    /// Seed of the initial weights and of the batch order.
    pub seed: u64,
    /// Training steps attempted, accepted or rejected.
    pub steps: u32,
    /// SGD learning rate.
    pub learning_rate: f32,
    /// Factor applied to every dense weight matrix after the PyTorch initialisation.
    pub init_scale: f32,
    /// Gradient clipping.
    pub clip: GradientClip,
    /// Weight clipping bound `λ`.
    pub weight_clip: Option<f32>,
    /// `true` to decay the learning rate linearly to zero over `steps`.
    pub linear_decay: bool,
}

/// Target and prediction layout of one model family.
pub struct Glue<M: Layer, J: Objective<M::Output>> {
    /// The training objective.
    pub objective: J,
    /// Targets of one sample, in the objective's layout.
    pub target: fn(&Sample) -> J::Target,
    /// The final temperature prediction (z-scored) in a model output.
    pub temperatures: fn(&M::Output) -> [f32; 2],
    /// Index of the final temperature task in `StepReport::task_losses`.
    pub temperature_task: usize,
}

/// Returns the positions, in `StepReport::layer_grad_norms`, of the trunk's dense layers of
/// output width `width`, from input to output.
///
/// Trainable layers are found from the tensor names, in the order in which
/// `Layer::visit_tensors` lists them (the order of the gradient-norm report): each distinct
/// name prefix with a parameter is one layer. A dense layer is one whose weight is a matrix,
/// and its output width is the matrix's first dimension. Batch-norm layers (vector parameters)
/// and heads (output width 1 or 2) are skipped.
///
/// # Errors
/// When the number of layers found differs from `M::LAYERS`.
pub fn trunk_dense_positions<M: Layer + Zeroed>(width: usize) -> anyhow::Result<Vec<usize>> {
    let model = M::zeroed();
    let mut prefixes: Vec<String> = Vec::new();
    let mut positions = Vec::new();
    model.visit_tensors("", 0, &mut |info, _| {
        if info.kind != TensorKind::Parameter {
            return;
        }
        let prefix = info.name.rsplit_once('.').map_or(info.name, |(p, _)| p);
        if prefixes.last().map(String::as_str) != Some(prefix) {
            prefixes.push(prefix.to_owned());
        }
        if info.shape.len() == 2 && info.shape[0] == width {
            positions.push(prefixes.len() - 1);
        }
    });
    anyhow::ensure!(
        prefixes.len() == M::LAYERS,
        "found {} trainable layers by name but the model reports {}",
        prefixes.len(),
        M::LAYERS
    );
    Ok(positions)
}

/// Trains one model and measures it.
///
/// # Errors
/// When the trunk's dense layers cannot be located (see [`trunk_dense_positions`]).
pub fn run_seed<M, J>(
    data: &WeatherData,
    spec: &RunSpec,
    width: usize,
    glue: &Glue<M, J>,
) -> anyhow::Result<SeedRun>
where
    M: Layer<Input = [f32; INPUTS]> + Zeroed + Clone,
    J: Objective<M::Output>,
{
    let positions = trunk_dense_positions::<M>(width)?;
    let mut model: M = build(Init::PyTorch, spec.seed);
    scale_weights(&mut model, spec.init_scale);
    let mut batches = Batches::new(data.train.len(), spec.seed);

    let init_norms = probe_norms(&model, data, &positions, glue, spec.seed);

    let mut trainer = Box::new(Trainer::<M, Sgd, BATCH>::new(Sgd::new(spec.learning_rate)));
    trainer.clip = spec.clip;
    trainer.weight_clip = spec.weight_clip;
    if spec.linear_decay {
        trainer.schedule = Schedule::new(Decay::Linear { steps: spec.steps });
    }

    let window = (spec.steps as usize / LOSS_POINTS).max(1);
    let mut loss_curve = Vec::new();
    let (mut window_sum, mut window_count) = (0.0f64, 0u32);
    let mut norm_sums = vec![0.0f64; positions.len()];
    let mut norm_count = 0u32;
    let mut rejected_steps = 0u32;
    let mut first_rejection = None;
    for step in 0..spec.steps as usize {
        let batch = batches.next_batch();
        let x = core::array::from_fn(|i| data.train[batch[i]].x);
        let t = core::array::from_fn(|i| (glue.target)(&data.train[batch[i]]));
        match trainer.step(&mut model, &x, &t, &glue.objective) {
            Ok(report) => {
                window_sum += f64::from(report.task_losses[glue.temperature_task]);
                window_count += 1;
                if step >= spec.steps as usize / 2 {
                    add_norms(&mut norm_sums, &report, &positions);
                    norm_count += 1;
                }
            }
            Err(error) => {
                rejected_steps += 1;
                first_rejection.get_or_insert_with(|| format!("step {}: {error}", step + 1));
            }
        }
        if (step + 1) % window == 0 {
            loss_curve.push(mean(window_sum, window_count));
            (window_sum, window_count) = (0.0, 0);
        }
    }

    let training_norms = norm_sums.iter().map(|s| mean(*s, norm_count)).collect();
    let (test_rmse, test_rmse_per_target) = test_rmse(&model, data, glue);
    Ok(SeedRun {
        seed: spec.seed,
        init_norms,
        training_norms,
        accepted_steps: trainer.step,
        rejected_steps,
        first_rejection,
        loss_curve,
        test_rmse,
        test_rmse_per_target,
    })
}

/// Multiplies every dense weight matrix (the two-dimensional parameters) by `factor`.
fn scale_weights<M: Layer>(model: &mut M, factor: f32) {
    if factor == 1.0 {
        return;
    }
    model.visit_tensors_mut("", 0, &mut |info, values| {
        if info.kind == TensorKind::Parameter && info.shape.len() == 2 {
            values.iter_mut().for_each(|v| *v *= factor);
        }
    });
}

/// Returns the mean gradient norm of each trunk dense layer over [`PROBE_BATCHES`] batches,
/// taken on a copy of the model with a learning rate of zero, so nothing is trained.
fn probe_norms<M, J>(
    model: &M,
    data: &WeatherData,
    positions: &[usize],
    glue: &Glue<M, J>,
    seed: u64,
) -> Vec<f32>
where
    M: Layer<Input = [f32; INPUTS]> + Zeroed + Clone,
    J: Objective<M::Output>,
{
    let mut copy = model.clone();
    let mut probe = Box::new(Trainer::<M, Sgd, BATCH>::new(Sgd::new(0.0)));
    let mut batches = Batches::new(data.train.len(), seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut sums = vec![0.0f64; positions.len()];
    let mut count = 0;
    for _ in 0..PROBE_BATCHES {
        let batch = batches.next_batch();
        let x = core::array::from_fn(|i| data.train[batch[i]].x);
        let t = core::array::from_fn(|i| (glue.target)(&data.train[batch[i]]));
        if let Ok(report) = probe.step(&mut copy, &x, &t, &glue.objective) {
            add_norms(&mut sums, &report, positions);
            count += 1;
        }
    }
    sums.iter().map(|s| mean(*s, count)).collect()
}

fn add_norms(sums: &mut [f64], report: &StepReport, positions: &[usize]) {
    for (sum, &position) in sums.iter_mut().zip(positions) {
        *sum += f64::from(report.layer_grad_norms[position]);
    }
}

/// Returns `sum / count`, or NaN for no values.
fn mean(sum: f64, count: u32) -> f32 {
    if count == 0 {
        f32::NAN
    } else {
        (sum / f64::from(count)) as f32
    }
}

/// Returns the test RMSE in °C over both temperatures, and for each of them.
fn test_rmse<M, J>(model: &M, data: &WeatherData, glue: &Glue<M, J>) -> (f32, [f32; 2])
where
    M: Layer<Input = [f32; INPUTS]>,
    J: Objective<M::Output>,
{
    let mut squares = [0.0f64; 2];
    let mut output = [M::Output::zeroed()];
    for sample in &data.test {
        model.forward(&[sample.x], &mut output);
        let mut predicted = (glue.temperatures)(&output[0]);
        data.temperature_scaler.invert(&mut predicted);
        for (square, (p, t)) in squares
            .iter_mut()
            .zip(predicted.iter().zip(&sample.temperatures_celsius))
        {
            *square += f64::from(p - t).powi(2);
        }
    }
    let count = data.test.len().max(1) as f64;
    let per_target = squares.map(|s| (s / count).sqrt() as f32);
    let both = ((squares[0] + squares[1]) / (2.0 * count)).sqrt() as f32;
    (both, per_target)
}

/// Shuffled batches of sample indices, reshuffled every epoch; the last partial batch of an
/// epoch is dropped.
struct Batches {
    order: Vec<usize>,
    next: usize,
    rng: Rng,
}

impl Batches {
    fn new(samples: usize, seed: u64) -> Self {
        assert!(
            samples >= BATCH,
            "need at least {BATCH} training samples, got {samples}"
        );
        let mut batches = Self {
            order: (0..samples).collect(),
            next: 0,
            rng: Rng::with_stream(seed, 1),
        };
        batches.rng.shuffle(&mut batches.order);
        batches
    }

    fn next_batch(&mut self) -> [usize; BATCH] {
        if self.next + BATCH > self.order.len() {
            self.rng.shuffle(&mut self.order);
            self.next = 0;
        }
        let batch = core::array::from_fn(|i| self.order[self.next + i]);
        self.next += BATCH;
        batch
    }
}
