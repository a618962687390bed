//! The Seattle weather demo on the desktop: load the daily records, train
//! [`weather::Model`] on 2012–2014, and score it on 2015 against simple baselines.
//!
//! A sample is three consecutive days: yesterday and today give the 10 inputs of
//! [`weather::inputs`], tomorrow gives the targets of [`weather::targets`]. Samples whose
//! tomorrow falls before [`TEST_YEAR`] form the training split; those in [`TEST_YEAR`] the test
//! split. Inputs are z-scored with a [`Standardizer`] fitted on the training split only. The two
//! temperature targets are z-scored too, with training statistics, so both squared errors have
//! a scale comparable to the rain cross-entropy. Predictions are scaled back to °C before any
//! metric is computed.
//!
//! Training: [`gradwell::Adam::pytorch`] with learning rate [`LEARNING_RATE`], batches of
//! [`BATCH`] samples reshuffled every epoch, [`DEFAULT_EPOCHS`] epochs by default, equal task
//! weights ([`weather::objective`]), [`gradwell::Init::PyTorch`] initialisation. The trainer
//! takes only full batches, so the last `len % BATCH` samples of each shuffled epoch are not
//! trained on in that epoch (see [`crate::training`]).
//!
//! Baselines on the same test split:
//! - persistence, "tomorrow equals today": today's temperatures, and rain tomorrow when it
//!   rained today;
//! - single-task models: the same trunk with one head, one model per task, trained the same way.

use std::path::{Path, PathBuf};

use gradwell::weather::{self, Day};
use gradwell::{
    seq, BinaryCrossEntropy, Dense, Layer, Mse, MultiTask, Relu, Standardizer, Task, Zeroed,
};

use gradwell::checkpoint::{Extras, Scaling};

use crate::data::{DataError, DropReport, Table};
pub use crate::demo::DemoError;
use crate::metrics::{accuracy, f1, rmse};
use crate::plot::{self, Curves};
use crate::training::{self, Dataset, FitOptions, History};

/// The repository's copy of `seattle-weather.csv`, found wherever the tool runs from.
pub const DATA_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/seattle-weather.csv");
/// Samples whose tomorrow is in this year are the test split; earlier ones train.
pub const TEST_YEAR: u16 = 2015;
/// Samples per training batch.
pub const BATCH: usize = 32;
/// Adam learning rate.
pub const LEARNING_RATE: f32 = 1e-3;
/// Default number of epochs.
pub const DEFAULT_EPOCHS: usize = 20;
/// Default seed for initialisation and shuffling.
pub const DEFAULT_SEED: u64 = 42;
/// Names of the model's tasks, in head order.
pub const TASKS: [&str; 3] = ["temp_max", "temp_min", "rain"];
/// File name of the trained multi-task model's checkpoint inside the output folder.
pub const CHECKPOINT_FILE: &str = "model.gwck";

/// The shared trunk of [`weather::Model`].
pub type Trunk = seq![Dense<{ weather::INPUTS }, 64, Relu>, Dense<64, 32, Relu>];
/// A single-task baseline: the demo's trunk with one head.
pub type SingleTaskModel = MultiTask<Trunk, (Dense<32, 1>,)>;

/// One day of the data set with its calendar date.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DatedDay {
    /// Year.
    pub year: u16,
    /// Month, 1 to 12.
    pub month: u8,
    /// Day of the month, 1 to 31.
    pub day_of_month: u8,
    /// The readings and the day of the year.
    pub day: Day,
}

/// One training or test sample, before scaling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeatherSample {
    /// Model inputs from yesterday and today.
    pub inputs: [f32; weather::INPUTS],
    /// Tomorrow's temp_max (°C), temp_min (°C) and rain (1 or 0).
    pub targets: [f32; 3],
    /// Today's readings, for the persistence baseline.
    pub today: Day,
    /// Tomorrow's year, which decides the split.
    pub year: u16,
}

/// Settings of the Seattle demo.
#[derive(Clone, Debug)]
pub struct DemoConfig {
    /// The CSV file.
    pub data: PathBuf,
    /// Number of epochs for every model.
    pub epochs: usize,
    /// Seed for initialisation and shuffling.
    pub seed: u64,
    /// Folder for the loss-curve plots; `None` writes no plots.
    pub out: Option<PathBuf>,
    /// Shows progress bars when the terminal allows it.
    pub progress: bool,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from(DATA_PATH),
            epochs: DEFAULT_EPOCHS,
            seed: DEFAULT_SEED,
            out: None,
            progress: false,
        }
    }
}

/// The trained multi-task model with the scaling it was trained with; everything a device
/// needs to make the same predictions.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainedWeather {
    /// The trained model.
    pub model: weather::Model,
    /// Input scaling fitted on the training split.
    pub input_scaler: Standardizer<{ weather::INPUTS }>,
    /// Scaling of the temp_max and temp_min targets; predictions are inverted with it.
    pub target_scaler: Standardizer<2>,
}

/// Result of [`train_seattle`]: the trained model and every figure the demo prints.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// The trained multi-task model and its scaling.
    pub trained: TrainedWeather,
    /// The metrics, baselines, throughput and loss curves.
    pub summary: Summary,
}

/// Every figure the Seattle demo prints, in a form that serialises to JSON.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Summary {
    /// The CSV file.
    pub data: String,
    /// Rows kept and dropped for missing values.
    pub rows: DropReport,
    /// Number of training samples (tomorrow before [`TEST_YEAR`]).
    pub train_samples: usize,
    /// Number of test samples (tomorrow in [`TEST_YEAR`]).
    pub test_samples: usize,
    /// Places where a row's date does not follow the previous row's (a duplicated, missing or
    /// out-of-order day); the samples spanning them are left out.
    pub date_gaps: usize,
    /// Year of the test split.
    pub test_year: u16,
    /// Epochs of every model.
    pub epochs: usize,
    /// Seed of initialisation and shuffling.
    pub seed: u64,
    /// Batch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f32,
    /// Test RMSE of tomorrow's maximum temperature, °C.
    pub temp_max: Regression,
    /// Test RMSE of tomorrow's minimum temperature, °C.
    pub temp_min: Regression,
    /// Test scores of tomorrow's rain.
    pub rain: RainScores,
    /// Training throughput of the multi-task model.
    pub training: Throughput,
    /// Per-task train and test loss per epoch of the multi-task model, in head order.
    pub loss_curves: History,
    /// Plot files written.
    pub plots: Vec<String>,
    /// Checkpoint of the multi-task model with its input scaling, when one was written.
    pub checkpoint: Option<String>,
}

/// Test RMSE of one temperature, °C.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Regression {
    /// The multi-task model.
    pub multi_task: f64,
    /// The single-task model of this task.
    pub single_task: f64,
    /// "Tomorrow equals today".
    pub persistence: f64,
}

/// Accuracy and F1 of one rain predictor.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Classification {
    /// Fraction of days predicted right.
    pub accuracy: f64,
    /// F1 score of "rain".
    pub f1: f64,
}

/// Rain scores of the model and its baselines; a logit above 0 predicts rain.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct RainScores {
    /// The multi-task model.
    pub multi_task: Classification,
    /// The single-task rain model.
    pub single_task: Classification,
    /// Rain tomorrow when it rained today.
    pub persistence: Classification,
}

/// Training speed of one model.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Throughput {
    /// Optimizer steps.
    pub steps: u32,
    /// Samples trained on.
    pub samples: usize,
    /// Wall time of the steps, seconds.
    pub seconds: f64,
    /// Samples per second.
    pub samples_per_second: f64,
}

impl std::fmt::Display for Throughput {
    /// Writes, for example, "680 steps, 21760 samples in 0.04 s: 516191 samples/s".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} steps, {} samples in {:.2} s: {:.0} samples/s",
            self.steps, self.samples, self.seconds, self.samples_per_second
        )
    }
}

/// Reads the daily records, dropping rows with a missing value in a column the model needs.
///
/// # Errors
/// A [`DataError`] for a missing column, an invalid date or number, or a malformed file.
pub fn load_days(path: impl AsRef<Path>) -> Result<(Vec<DatedDay>, DropReport), DataError> {
    let table = Table::read(path)?;
    let date = table.column("date")?;
    let precipitation = table.column("precipitation")?;
    let temp_max = table.column("temp_max")?;
    let temp_min = table.column("temp_min")?;
    let wind = table.column("wind")?;

    let (rows, report) = table.complete_rows(&[date, precipitation, temp_max, temp_min, wind]);
    let mut days = Vec::with_capacity(rows.len());
    for row in rows {
        let (year, month, day_of_month, day_of_year) =
            parse_date(row.field(date)).ok_or_else(|| row.invalid(date, "a date as YYYY-MM-DD"))?;
        days.push(DatedDay {
            year,
            month,
            day_of_month,
            day: Day {
                precipitation: row.required_number(precipitation)?,
                temp_max: row.required_number(temp_max)?,
                temp_min: row.required_number(temp_min)?,
                wind: row.required_number(wind)?,
                day_of_year,
            },
        });
    }
    Ok((days, report))
}

/// Builds one sample from each run of three consecutive days; a gap in the dates (a dropped
/// row) starts a new run.
pub fn samples(days: &[DatedDay]) -> Vec<WeatherSample> {
    days.windows(3)
        .filter(|w| follows(&w[0], &w[1]) && follows(&w[1], &w[2]))
        .map(|w| {
            let (yesterday, today, tomorrow) = (&w[0].day, &w[1].day, &w[2].day);
            WeatherSample {
                inputs: weather::inputs(yesterday, today, tomorrow.day_of_year),
                targets: weather::targets(tomorrow),
                today: *today,
                year: w[2].year,
            }
        })
        .collect()
}

/// Splits samples into training (tomorrow before [`TEST_YEAR`]) and test (in [`TEST_YEAR`]).
pub fn split(samples: &[WeatherSample]) -> (Vec<WeatherSample>, Vec<WeatherSample>) {
    let train = samples
        .iter()
        .filter(|s| s.year < TEST_YEAR)
        .copied()
        .collect();
    let test = samples
        .iter()
        .filter(|s| s.year == TEST_YEAR)
        .copied()
        .collect();
    (train, test)
}

/// Fits the input and temperature-target scalers on the training samples.
pub fn fit_scalers(
    train: &[WeatherSample],
) -> (Standardizer<{ weather::INPUTS }>, Standardizer<2>) {
    let inputs = Standardizer::fit(train.iter().map(|s| &s.inputs));
    let temperatures: Vec<[f32; 2]> = train.iter().map(|s| [s.targets[0], s.targets[1]]).collect();
    (inputs, Standardizer::fit(temperatures.iter()))
}

/// Runs the whole demo: loads the data, trains the multi-task model and the three
/// single-task baselines, scores them on the test year and writes the loss-curve plots.
///
/// # Errors
/// A [`DemoError`] for unreadable data, an empty split, a rejected training step or a plot
/// that cannot be written.
pub fn train_seattle(config: &DemoConfig) -> Result<DemoReport, DemoError> {
    let (days, rows) = load_days(&config.data)?;
    let all = samples(&days);
    let date_gaps = days.windows(2).filter(|w| !follows(&w[0], &w[1])).count();
    let (train, test) = split(&all);
    for (split, set) in [("training", &train), ("test", &test)] {
        if set.is_empty() {
            return Err(DemoError::EmptySplit {
                path: config.data.clone(),
                split,
                detail: format!(
                    "the demo trains on days before {TEST_YEAR} and tests on {TEST_YEAR}"
                ),
            });
        }
    }

    let (input_scaler, target_scaler) = fit_scalers(&train);
    let scale = |s: &WeatherSample| {
        let mut x = s.inputs;
        input_scaler.apply(&mut x);
        let mut t = [s.targets[0], s.targets[1]];
        target_scaler.apply(&mut t);
        (x, [t[0], t[1], s.targets[2]])
    };
    let multi_task_data = |set: &[WeatherSample]| {
        let mut data: Dataset<_, weather::Targets> = Dataset::default();
        for s in set {
            let (x, t) = scale(s);
            data.push(x, (Some([t[0]]), Some([t[1]]), Some([t[2]])));
        }
        data
    };
    let single_task_data = |set: &[WeatherSample], task: usize| {
        let mut data: Dataset<_, (Option<[f32; 1]>,)> = Dataset::default();
        for s in set {
            let (x, t) = scale(s);
            data.push(x, (Some([t[task]]),));
        }
        data
    };

    let options = |label: &str| FitOptions {
        epochs: config.epochs,
        seed: config.seed,
        progress: config.progress,
        label: label.to_string(),
    };
    let (model, history) = train_model::<weather::Model, _>(
        &weather::objective(),
        &multi_task_data(&train),
        &multi_task_data(&test),
        &options("multi-task"),
    )?;
    let mut single_task_models = Vec::with_capacity(TASKS.len());
    for (task, name) in TASKS.iter().enumerate() {
        let label = format!("single-task {name}");
        let (train_data, test_data) = (
            single_task_data(&train, task),
            single_task_data(&test, task),
        );
        let (single, _) = if task < 2 {
            train_model::<SingleTaskModel, _>(
                &(Task::new(Mse),),
                &train_data,
                &test_data,
                &options(&label),
            )?
        } else {
            train_model::<SingleTaskModel, _>(
                &(Task::new(BinaryCrossEntropy),),
                &train_data,
                &test_data,
                &options(&label),
            )?
        };
        single_task_models.push(single);
    }

    let test_inputs: Vec<_> = test.iter().map(|s| scale(s).0).collect();
    let outputs = training::predict(&model, &test_inputs);
    let mut predicted = [Vec::new(), Vec::new(), Vec::new()];
    for (t_max, t_min, rain) in &outputs {
        let mut temperatures = [t_max[0], t_min[0]];
        target_scaler.invert(&mut temperatures);
        predicted[0].push(temperatures[0]);
        predicted[1].push(temperatures[1]);
        predicted[2].push(rain[0]);
    }
    let single_predicted: Vec<Vec<f32>> = single_task_models
        .iter()
        .enumerate()
        .map(|(task, single)| {
            training::predict(single, &test_inputs)
                .iter()
                .map(|(y,)| match task {
                    0 | 1 => y[0] * target_scaler.std[task] + target_scaler.mean[task],
                    _ => y[0],
                })
                .collect()
        })
        .collect();

    let actual: Vec<Vec<f32>> = (0..3)
        .map(|task| test.iter().map(|s| s.targets[task]).collect())
        .collect();
    let persistence = [
        test.iter().map(|s| s.today.temp_max).collect::<Vec<_>>(),
        test.iter().map(|s| s.today.temp_min).collect(),
    ];
    let regression = |task: usize| Regression {
        multi_task: rmse(&predicted[task], &actual[task]),
        single_task: rmse(&single_predicted[task], &actual[task]),
        persistence: rmse(&persistence[task], &actual[task]),
    };
    let rained: Vec<bool> = actual[2].iter().map(|&r| r > 0.5).collect();
    let classify = |predictions: Vec<bool>| Classification {
        accuracy: accuracy(&predictions, &rained),
        f1: f1(&predictions, &rained),
    };
    let rain = RainScores {
        multi_task: classify(predicted[2].iter().map(|&logit| logit > 0.0).collect()),
        single_task: classify(
            single_predicted[2]
                .iter()
                .map(|&logit| logit > 0.0)
                .collect(),
        ),
        persistence: classify(test.iter().map(|s| s.today.precipitation > 0.0).collect()),
    };

    let mut plots = Vec::new();
    if let Some(out) = &config.out {
        let curves = Curves {
            title: "Seattle weather: multi-task loss per epoch",
            tasks: &TASKS,
            history: &history,
        };
        for path in plot::write_loss_curves(&out.join("loss"), &curves)? {
            plots.push(path.display().to_string());
        }
    }

    let mut checkpoint = None;
    if let Some(out) = &config.out {
        let path = out.join(CHECKPOINT_FILE);
        let extras = Extras {
            scaling: Some(Scaling::from_standardizer(&input_scaler)),
            ..Extras::default()
        };
        crate::checkpoint::save_model(&path, &model, &extras).map_err(DemoError::Checkpoint)?;
        checkpoint = Some(path.display().to_string());
    }

    let summary = Summary {
        data: config.data.display().to_string(),
        rows,
        train_samples: train.len(),
        test_samples: test.len(),
        date_gaps,
        test_year: TEST_YEAR,
        epochs: config.epochs,
        seed: config.seed,
        batch_size: BATCH,
        learning_rate: LEARNING_RATE,
        temp_max: regression(0),
        temp_min: regression(1),
        rain,
        training: Throughput {
            steps: history.steps,
            samples: history.samples,
            seconds: history.seconds,
            samples_per_second: history.samples_per_second(),
        },
        loss_curves: history,
        plots,
        checkpoint,
    };
    Ok(DemoReport {
        trained: TrainedWeather {
            model,
            input_scaler,
            target_scaler,
        },
        summary,
    })
}

/// Trains a new model of type `M` with the demo's optimizer, learning rate and batch size.
fn train_model<M, J>(
    objective: &J,
    train: &Dataset<M::Input, J::Target>,
    test: &Dataset<M::Input, J::Target>,
    options: &FitOptions,
) -> Result<(M, History), DemoError>
where
    M: Layer + Zeroed,
    M::Input: gradwell::Tensors,
    J: gradwell::Objective<M::Output>,
    J::Target: training::Labels,
{
    training::train_adam::<M, J, BATCH>(objective, train, test, LEARNING_RATE, options).map_err(
        |error| DemoError::Fit {
            model: options.label.clone(),
            error,
        },
    )
}

/// Parses `YYYY-MM-DD` into year, month, day of the month and day of the year.
fn parse_date(text: &str) -> Option<(u16, u8, u8, u16)> {
    let mut parts = text.split('-');
    let year: u16 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    let day_of_year = weather::day_of_year(year, month, day)?;
    Some((year, month, day, day_of_year))
}

/// Returns `true` when `next` is the calendar day after `day`.
fn follows(day: &DatedDay, next: &DatedDay) -> bool {
    let days_in_year = 365 + u16::from(weather::is_leap_year(day.year));
    if day.day.day_of_year == days_in_year {
        next.year == day.year + 1 && next.day.day_of_year == 1
    } else {
        next.year == day.year && next.day.day_of_year == day.day.day_of_year + 1
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Seattle weather: predict tomorrow from yesterday and today"
        )?;
        writeln!(f, "  data      {}: {}", self.data, self.rows)?;
        writeln!(
            f,
            "  split     {} training samples (tomorrow before {}), {} test samples (tomorrow in {})",
            self.train_samples, self.test_year, self.test_samples, self.test_year
        )?;
        if self.date_gaps > 0 {
            writeln!(
                f,
                "  warning   {} places where a date does not follow the previous row's \
                 (duplicated, missing or out-of-order days); the samples spanning them are left out",
                self.date_gaps
            )?;
        }
        writeln!(
            f,
            "  training  {} epochs, batch {}, Adam lr {}, seed {}; {}",
            self.epochs, self.batch_size, self.learning_rate, self.seed, self.training
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "  {} test metrics        multi-task  single-task  persistence",
            self.test_year
        )?;
        for (name, r) in [
            ("temp_max RMSE (°C)", &self.temp_max),
            ("temp_min RMSE (°C)", &self.temp_min),
        ] {
            writeln!(
                f,
                "  {name:<22}{:>10.3}{:>13.3}{:>13.3}",
                r.multi_task, r.single_task, r.persistence
            )?;
        }
        let rain = &self.rain;
        writeln!(
            f,
            "  {:<22}{:>10.3}{:>13.3}{:>13.3}",
            "rain accuracy",
            rain.multi_task.accuracy,
            rain.single_task.accuracy,
            rain.persistence.accuracy
        )?;
        writeln!(
            f,
            "  {:<22}{:>10.3}{:>13.3}{:>13.3}",
            "rain F1", rain.multi_task.f1, rain.single_task.f1, rain.persistence.f1
        )?;
        if let (Some(first), Some(last)) =
            (self.loss_curves.test.first(), self.loss_curves.test.last())
        {
            writeln!(f)?;
            let losses = |values: &[f32]| {
                TASKS
                    .iter()
                    .zip(values)
                    .map(|(task, loss)| format!("{task} {loss:.3}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            writeln!(f, "  test loss after epoch 1: {}", losses(first))?;
            writeln!(
                f,
                "  test loss after epoch {}: {}",
                self.loss_curves.test.len(),
                losses(last)
            )?;
        }
        for path in self.plots.iter().chain(&self.checkpoint) {
            writeln!(f, "  wrote {path}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date("2012-03-01"), Some((2012, 3, 1, 61)));
        assert_eq!(parse_date("2013-02-29"), None);
        assert_eq!(parse_date("2013-02"), None);
        assert_eq!(parse_date("2013-02-01-1"), None);
        assert_eq!(parse_date("20x3-02-01"), None);
    }

    fn dated(year: u16, day_of_year: u16) -> DatedDay {
        DatedDay {
            year,
            month: 1,
            day_of_month: 1,
            day: Day {
                day_of_year,
                ..Day::default()
            },
        }
    }

    #[test]
    fn consecutive_days() {
        assert!(follows(&dated(2012, 366), &dated(2013, 1)));
        assert!(!follows(&dated(2013, 365), &dated(2013, 366)));
        assert!(follows(&dated(2013, 365), &dated(2014, 1)));
        assert!(follows(&dated(2014, 40), &dated(2014, 41)));
        assert!(!follows(&dated(2014, 40), &dated(2014, 42)));
    }

    #[test]
    fn gap_starts_new_run() {
        let days = [
            dated(2014, 1),
            dated(2014, 2),
            dated(2014, 4),
            dated(2014, 5),
            dated(2014, 6),
        ];
        let built = samples(&days);
        assert_eq!(built.len(), 1);
        assert_eq!(built[0].today.day_of_year, 5);
    }
}
