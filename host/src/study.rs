//! `gradwell study gradient-flow`: how gradients reach the lower layers of deep networks, and
//! which remedies keep them there.
//!
//! The study trains families of deep networks on the Seattle weather data: tomorrow's
//! `temp_max` and `temp_min` from two days of readings, squared error on z-scored targets. It
//! measures the L2 gradient norm of every trunk dense layer, at initialisation and during
//! training, and the ratio
//!
//! `ratio = ‖∂J/∂θ₁‖ / ‖∂J/∂θ_D‖`
//!
//! of the first trunk layer's gradient norm to the last trunk layer's. A ratio far below 1 is a
//! vanishing gradient, far above 1 an exploding one.
//!
//! Families, each at depths 4, 8 and 16 with width 16, with sigmoid and with tanh:
//! plain MLPs; batch norm after every dense layer; identity-shortcut residual blocks; both;
//! extra task heads on top of the trunk (rain, wind); and auxiliary temperature heads after
//! each quarter of the trunk (deep supervision). An exploding regime (tanh, dense weights ×6
//! after the PyTorch initialisation, learning rate 0.2) is run without a remedy, with
//! global-norm gradient clipping (max norm 1), with weight clipping (λ = 0.5) and with linear
//! learning-rate decay to zero.
//!
//! Defaults: SGD without momentum, learning rate 0.01, batch 32, 3000 steps, 5 seeds. Splits:
//! predicted days in 2012–2014 train, 2015 test; inputs and temperatures are z-scored with the
//! training statistics.
//!
//! The trainer's `StepReport::layer_grad_norms` lists every trainable layer from input to
//! output, batch-norm layers and heads included; the trunk's dense layers are picked from that
//! list by position, found from the tensor shapes (see `train::trunk_dense_positions`).

pub mod cli;
mod data;
mod models;
mod plot;
mod table;
mod train;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gradwell::GradientClip;

pub use data::{Sample, WeatherData};
pub use models::{Nested, WIDTH};
pub use train::{RunSpec, BATCH, LOSS_POINTS, PROBE_BATCHES};

/// Depths the study supports.
pub const DEPTHS: [usize; 3] = [4, 8, 16];
/// Default SGD learning rate.
pub const LEARNING_RATE: f32 = 0.01;
/// Default factor on the initial dense weights in the exploding regime.
pub const EXPLODING_INIT_SCALE: f32 = 6.0;
/// Default SGD learning rate in the exploding regime.
pub const EXPLODING_LEARNING_RATE: f32 = 0.2;
/// Maximum global gradient norm of [`Remedy::ClipNorm`].
pub const CLIP_NORM: f32 = 1.0;
/// Weight bound `λ` of [`Remedy::WeightClip`].
pub const WEIGHT_CLIP: f32 = 0.5;
/// Default number of seeds per configuration.
pub const DEFAULT_SEEDS: u64 = 5;
/// Default number of training steps per run.
pub const DEFAULT_STEPS: u32 = 3000;
/// Stack size of each worker thread, because a depth-16 trainer keeps a batch of activations
/// inline.
const WORKER_STACK_BYTES: usize = 64 << 20;

/// Activation of every trunk layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActivationKind {
    /// `σ(x) = 1 / (1 + e^(−x))`.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
}

/// A remedy tried in the exploding regime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remedy {
    /// No remedy.
    None,
    /// Global-norm gradient clipping at [`CLIP_NORM`].
    ClipNorm,
    /// Weight clipping into `[−WEIGHT_CLIP, WEIGHT_CLIP]` after each update.
    WeightClip,
    /// Learning rate decayed linearly to zero over the run.
    LinearDecay,
}

/// A model family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Dense layers only.
    Plain,
    /// Each dense layer followed by batch norm.
    BatchNorm,
    /// Each dense layer after the first inside an identity-shortcut residual block.
    Residual,
    /// Residual blocks of a dense layer and a batch norm, after a dense layer and a batch norm.
    ResidualBatchNorm,
    /// The plain trunk with rain and wind heads beside the temperature head.
    HeadsOnTop,
    /// The plain trunk with an auxiliary temperature head after each quarter of its depth.
    AuxiliaryHeads,
    /// The plain trunk with its initial dense weights scaled up and a high learning rate
    /// ([`StudyConfig::exploding_init_scale`], [`StudyConfig::exploding_learning_rate`]), with
    /// a remedy.
    Exploding(Remedy),
}

/// One configuration: family, activation and depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Configuration {
    /// Model family.
    pub family: Family,
    /// Activation of the trunk layers.
    pub activation: ActivationKind,
    /// Number of trunk dense layers.
    pub depth: usize,
}

impl Configuration {
    /// Returns the family's short name, as used in the report's tables.
    pub fn family_name(&self) -> &'static str {
        match self.family {
            Family::Plain => "plain",
            Family::BatchNorm => "batch norm",
            Family::Residual => "residual",
            Family::ResidualBatchNorm => "residual + batch norm",
            Family::HeadsOnTop => "heads on top",
            Family::AuxiliaryHeads => "auxiliary heads",
            Family::Exploding(Remedy::None) => "large init",
            Family::Exploding(Remedy::ClipNorm) => "large init + clip norm",
            Family::Exploding(Remedy::WeightClip) => "large init + weight clip",
            Family::Exploding(Remedy::LinearDecay) => "large init + linear decay",
        }
    }

    /// Returns the activation's name.
    pub fn activation_name(&self) -> &'static str {
        match self.activation {
            ActivationKind::Sigmoid => "sigmoid",
            ActivationKind::Tanh => "tanh",
        }
    }

    /// Returns the run settings of this configuration for `seed` in a study run.
    pub fn spec(&self, seed: u64, config: &StudyConfig) -> RunSpec {
        let mut spec = RunSpec {
            seed,
            steps: config.steps,
            learning_rate: config.learning_rate,
            init_scale: 1.0,
            clip: GradientClip::None,
            weight_clip: None,
            linear_decay: false,
        };
        if let Family::Exploding(remedy) = self.family {
            spec.init_scale = config.exploding_init_scale;
            spec.learning_rate = config.exploding_learning_rate;
            match remedy {
                Remedy::None => {}
                Remedy::ClipNorm => spec.clip = GradientClip::Norm(CLIP_NORM),
                Remedy::WeightClip => spec.weight_clip = Some(WEIGHT_CLIP),
                Remedy::LinearDecay => spec.linear_decay = true,
            }
        }
        spec
    }
}

/// Settings of a study run.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyConfig {
    /// Folder for the tables and plots; `None` writes nothing.
    pub out: Option<PathBuf>,
    /// Seeds per configuration, `0..seeds`.
    pub seeds: u64,
    /// Training steps per run.
    pub steps: u32,
    /// Depths to run, each 4, 8 or 16.
    pub depths: Vec<usize>,
    /// Path of `seattle-weather.csv`.
    pub data: PathBuf,
    /// SGD learning rate of the families outside the exploding regime.
    pub learning_rate: f32,
    /// Factor on the initial dense weights in the exploding regime.
    pub exploding_init_scale: f32,
    /// SGD learning rate in the exploding regime.
    pub exploding_learning_rate: f32,
    /// Worker threads.
    pub threads: usize,
    /// `true` to print a line to stderr as each configuration finishes.
    pub verbose: bool,
}

impl Default for StudyConfig {
    fn default() -> Self {
        Self {
            out: None,
            seeds: DEFAULT_SEEDS,
            steps: DEFAULT_STEPS,
            depths: DEPTHS.to_vec(),
            data: PathBuf::from(crate::seattle::DATA_PATH),
            learning_rate: LEARNING_RATE,
            exploding_init_scale: EXPLODING_INIT_SCALE,
            exploding_learning_rate: EXPLODING_LEARNING_RATE,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            verbose: false,
        }
    }
}

/// Measurements of one seed of one configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedRun {
    /// The seed.
    pub seed: u64,
    /// Gradient norm of each trunk dense layer at initialisation, from input to output: the
    /// mean over [`PROBE_BATCHES`] batches.
    pub init_norms: Vec<f32>,
    /// Gradient norm of each trunk dense layer during training: the mean over the accepted
    /// steps of the second half of the run; NaN when none was accepted.
    pub training_norms: Vec<f32>,
    /// Steps accepted by the trainer.
    pub accepted_steps: u32,
    /// Steps rejected with a `StepError`; the model was left unchanged by each.
    pub rejected_steps: u32,
    /// The first rejection, with its step number.
    pub first_rejection: Option<String>,
    /// Mean training loss of the final temperature head over each window of
    /// `steps / LOSS_POINTS` steps; NaN for a window without an accepted step.
    pub loss_curve: Vec<f32>,
    /// Test RMSE over both temperatures, °C.
    pub test_rmse: f32,
    /// Test RMSE of `temp_max` and of `temp_min`, °C.
    pub test_rmse_per_target: [f32; 2],
}

/// Median and range of a set of values, NaN values left out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Median of the finite values.
    pub median: f32,
    /// Smallest finite value.
    pub min: f32,
    /// Largest finite value.
    pub max: f32,
    /// Number of finite values.
    pub count: usize,
}

impl Spread {
    /// Computes the spread of the finite values in `values`; all fields are NaN (and `count`
    /// is 0) when there are none.
    pub fn of(values: impl IntoIterator<Item = f32>) -> Self {
        let mut finite: Vec<f32> = values.into_iter().filter(|v| v.is_finite()).collect();
        finite.sort_by(f32::total_cmp);
        let count = finite.len();
        if count == 0 {
            return Self {
                median: f32::NAN,
                min: f32::NAN,
                max: f32::NAN,
                count,
            };
        }
        let median = if count % 2 == 1 {
            finite[count / 2]
        } else {
            0.5 * (finite[count / 2 - 1] + finite[count / 2])
        };
        Self {
            median,
            min: finite[0],
            max: finite[count - 1],
            count,
        }
    }
}

/// All seeds of one configuration, and their summary.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigurationSummary {
    /// The configuration.
    pub configuration: Configuration,
    /// One run per seed.
    pub runs: Vec<SeedRun>,
    /// First-to-last trunk gradient-norm ratio at initialisation, over seeds.
    pub init_ratio: Spread,
    /// First-to-last trunk gradient-norm ratio during training, over seeds.
    pub training_ratio: Spread,
    /// Test RMSE over both temperatures, °C, over seeds.
    pub test_rmse: Spread,
    /// Rejected steps, over seeds.
    pub rejected_steps: Spread,
    /// Median over seeds of each trunk dense layer's gradient norm at initialisation.
    pub init_norms: Vec<f32>,
    /// Median over seeds of each trunk dense layer's gradient norm during training.
    pub training_norms: Vec<f32>,
    /// Median over seeds of each loss-curve point.
    pub loss_curve: Vec<f32>,
}

impl ConfigurationSummary {
    fn new(configuration: Configuration, runs: Vec<SeedRun>) -> Self {
        let ratio = |norms: &[f32]| first_to_last_ratio(norms).unwrap_or(f32::NAN);
        Self {
            configuration,
            init_ratio: Spread::of(runs.iter().map(|r| ratio(&r.init_norms))),
            training_ratio: Spread::of(runs.iter().map(|r| ratio(&r.training_norms))),
            test_rmse: Spread::of(runs.iter().map(|r| r.test_rmse)),
            rejected_steps: Spread::of(runs.iter().map(|r| r.rejected_steps as f32)),
            init_norms: pointwise_median(runs.iter().map(|r| &r.init_norms[..])),
            training_norms: pointwise_median(runs.iter().map(|r| &r.training_norms[..])),
            loss_curve: pointwise_median(runs.iter().map(|r| &r.loss_curve[..])),
            runs,
        }
    }
}

/// Everything a study run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct StudyReport {
    /// One summary per configuration, in the order of [`configurations`].
    pub configurations: Vec<ConfigurationSummary>,
    /// Seeds per configuration.
    pub seeds: u64,
    /// Training steps per run.
    pub steps: u32,
    /// SGD learning rate outside the exploding regime.
    pub learning_rate: f32,
    /// Factor on the initial dense weights in the exploding regime.
    pub exploding_init_scale: f32,
    /// SGD learning rate in the exploding regime.
    pub exploding_learning_rate: f32,
    /// Worker threads used.
    pub threads: usize,
    /// Wall time of the whole study, training and writing.
    pub wall_time: Duration,
}

impl StudyReport {
    /// Returns the summary of `family` with `activation` at `depth`, if it was run.
    pub fn find(
        &self,
        family: Family,
        activation: ActivationKind,
        depth: usize,
    ) -> Option<&ConfigurationSummary> {
        self.configurations.iter().find(|s| {
            s.configuration
                == Configuration {
                    family,
                    activation,
                    depth,
                }
        })
    }
}

/// Returns `norms[0] / norms[last]`: the first trunk layer's gradient norm over the last's.
///
/// `None` for fewer than two norms, a non-finite norm at either end, or a last norm of zero.
pub fn first_to_last_ratio(norms: &[f32]) -> Option<f32> {
    let (&first, &last) = (norms.first()?, norms.last()?);
    if norms.len() < 2 || !first.is_finite() || !last.is_finite() || last == 0.0 {
        return None;
    }
    Some(first / last)
}

/// Lists the configurations of the study at `depths`: six families with each activation, then
/// the exploding regime with tanh and each remedy.
pub fn configurations(depths: &[usize]) -> Vec<Configuration> {
    let families = [
        Family::Plain,
        Family::BatchNorm,
        Family::Residual,
        Family::ResidualBatchNorm,
        Family::HeadsOnTop,
        Family::AuxiliaryHeads,
    ];
    let remedies = [
        Remedy::None,
        Remedy::ClipNorm,
        Remedy::WeightClip,
        Remedy::LinearDecay,
    ];
    let mut list = Vec::new();
    for activation in [ActivationKind::Sigmoid, ActivationKind::Tanh] {
        for family in families {
            for &depth in depths {
                list.push(Configuration {
                    family,
                    activation,
                    depth,
                });
            }
        }
    }
    for remedy in remedies {
        for &depth in depths {
            list.push(Configuration {
                family: Family::Exploding(remedy),
                activation: ActivationKind::Tanh,
                depth,
            });
        }
    }
    list
}

/// Runs the gradient-flow study and, when `config.out` is set, writes its tables and plots.
///
/// # Errors
/// When a depth is not 4, 8 or 16, there are no seeds or steps, the data cannot be read, a
/// worker thread fails, or an output file cannot be written.
pub fn run_gradient_flow_study(config: &StudyConfig) -> anyhow::Result<StudyReport> {
    let start = Instant::now();
    anyhow::ensure!(config.seeds > 0, "seeds is 0; run at least one seed");
    anyhow::ensure!(config.steps > 0, "steps is 0; train for at least one step");
    if let Some(depth) = config.depths.iter().find(|d| !DEPTHS.contains(d)) {
        anyhow::bail!("depth {depth} is not supported; use 4, 8 or 16");
    }
    let data = WeatherData::load(&config.data)?;

    let configurations = configurations(&config.depths);
    let jobs: Vec<(usize, u64)> = (0..configurations.len())
        .flat_map(|c| (0..config.seeds).map(move |seed| (c, seed)))
        .collect();
    let results: Mutex<Vec<Option<SeedRun>>> = Mutex::new(vec![None; jobs.len()]);
    let next_job = AtomicUsize::new(0);
    let threads = config.threads.clamp(1, jobs.len().max(1));

    std::thread::scope(|scope| -> anyhow::Result<()> {
        let worker = || -> anyhow::Result<()> {
            loop {
                let index = next_job.fetch_add(1, Ordering::Relaxed);
                let Some(&(c, seed)) = jobs.get(index) else {
                    return Ok(());
                };
                let configuration = &configurations[c];
                let run = models::run_configuration(
                    configuration,
                    &data,
                    &configuration.spec(seed, config),
                )?;
                if config.verbose && seed + 1 == config.seeds {
                    eprintln!(
                        "{} {} depth {}: seed {seed} done after {:.1} s",
                        configuration.activation_name(),
                        configuration.family_name(),
                        configuration.depth,
                        start.elapsed().as_secs_f32()
                    );
                }
                results.lock().expect("a worker panicked")[index] = Some(run);
            }
        };
        let handles = (0..threads)
            .map(|_| {
                std::thread::Builder::new()
                    .stack_size(WORKER_STACK_BYTES)
                    .spawn_scoped(scope, worker)
            })
            .collect::<Result<Vec<_>, _>>()?;
        for handle in handles {
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("a study worker thread panicked"))??;
        }
        Ok(())
    })?;

    let mut runs = results
        .into_inner()
        .expect("a worker panicked")
        .into_iter()
        .map(|r| r.expect("every job ran"));
    let summaries = configurations
        .into_iter()
        .map(|c| ConfigurationSummary::new(c, runs.by_ref().take(config.seeds as usize).collect()))
        .collect();
    let mut report = StudyReport {
        configurations: summaries,
        seeds: config.seeds,
        steps: config.steps,
        learning_rate: config.learning_rate,
        exploding_init_scale: config.exploding_init_scale,
        exploding_learning_rate: config.exploding_learning_rate,
        threads,
        wall_time: start.elapsed(),
    };

    if let Some(out) = &config.out {
        std::fs::create_dir_all(out)
            .map_err(|e| anyhow::anyhow!("failed to create {}: {e}", out.display()))?;
        // The tables are written before the plots so that a failing plot loses no figures,
        // and again after them with the final wall time.
        table::write_tables(&report, out)?;
        plot::write_plots(&report, out)?;
        report.wall_time = start.elapsed();
        table::write_tables(&report, out)?;
    }
    Ok(report)
}

/// Returns the median over runs of each position; runs shorter than the longest are padded
/// with NaN, which the median leaves out.
fn pointwise_median<'a>(runs: impl Iterator<Item = &'a [f32]> + Clone) -> Vec<f32> {
    let length = runs.clone().map(<[f32]>::len).max().unwrap_or(0);
    (0..length)
        .map(|i| Spread::of(runs.clone().map(|r| r.get(i).copied().unwrap_or(f32::NAN))).median)
        .collect()
}
