//! The Palmer penguins demo: from bill length, bill depth and flipper length, predict a
//! penguin's species (3 classes), sex and body mass with one multi-task model.
//!
//! Missing values: a row without one of the three measurements, the body mass or the species
//! is dropped and counted. A row without a sex is kept: its sex label is `None`, so the sex
//! task leaves it out of its loss and its metric while the other tasks train on it.
//!
//! Split: the kept rows are shuffled with [`Rng`] seeded by the demo seed, and the first
//! [`TRAIN_FRACTION`] of them train, the rest test. The measurements and the body mass are
//! z-scored with training statistics; the mass prediction is scaled back to grams.
//!
//! Training: [`Adam::pytorch`](gradwell::Adam::pytorch) with learning rate [`LEARNING_RATE`],
//! batches of [`BATCH`], [`DEFAULT_EPOCHS`] epochs by default, equal task weights. The last
//! `len % BATCH` samples of each shuffled epoch are not trained on in that epoch.
//!
//! Baselines: the majority species and sex of the training split, and its mean body mass.

use std::path::{Path, PathBuf};

use gradwell::{
    seq, BinaryCrossEntropy, Dense, Mse, MultiTask, Relu, Rng, SoftmaxCrossEntropy, Standardizer,
    Task,
};

use crate::data::{DataError, DropReport, Table};
pub use crate::demo::DemoError;
use crate::metrics::{accuracy, majority, rmse};
use crate::plot::{self, Curves};
use crate::seattle::Throughput;
use crate::training::{self, Dataset, FitOptions, History};

/// The repository's copy of `penguins.csv`, found wherever the tool runs from.
pub const DATA_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/penguins.csv");
/// Species, in class order.
pub const SPECIES: [&str; 3] = ["Adelie", "Chinstrap", "Gentoo"];
/// Sexes, in label order: 0.0 for female, 1.0 for male.
pub const SEXES: [&str; 2] = ["female", "male"];
/// Input columns, in input order.
pub const MEASUREMENTS: [&str; 3] = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm"];
/// Names of the model's tasks, in head order.
pub const TASKS: [&str; 3] = ["species", "sex", "body_mass"];
/// Fraction of the shuffled rows in the training split.
pub const TRAIN_FRACTION: f64 = 0.8;
/// Samples per training batch.
pub const BATCH: usize = 16;
/// Adam learning rate.
pub const LEARNING_RATE: f32 = 3e-3;
/// Default number of epochs.
pub const DEFAULT_EPOCHS: usize = 150;

/// The demo's model: a 3 → 32 → 16 trunk, a 3-class species head and two heads of width 1
/// (sex logit, standardized body mass).
pub type Model = MultiTask<
    seq![Dense<3, 32, Relu>, Dense<32, 16, Relu>],
    (Dense<16, 3>, Dense<16, 1>, Dense<16, 1>),
>;

/// The demo's objective: softmax cross-entropy on species, binary cross-entropy on sex,
/// squared error on the standardized body mass.
pub type Objective = (
    Task<SoftmaxCrossEntropy>,
    Task<BinaryCrossEntropy>,
    Task<Mse>,
);

/// One sample's targets in head order: species class, sex (1.0 for male, `None` when
/// missing), standardized body mass.
pub type Targets = (Option<u32>, Option<[f32; 1]>, Option<[f32; 1]>);

/// Returns the demo's objective with equal task weights.
pub fn objective() -> Objective {
    (
        Task::new(SoftmaxCrossEntropy),
        Task::new(BinaryCrossEntropy),
        Task::new(Mse),
    )
}

/// One penguin of the data set, with every field the demo uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Penguin {
    /// Bill length (mm), bill depth (mm) and flipper length (mm).
    pub measurements: [f32; 3],
    /// Index in [`SPECIES`].
    pub species: u32,
    /// `Some(true)` for male, `None` when the sex is missing.
    pub male: Option<bool>,
    /// Body mass, g.
    pub body_mass_g: f32,
}

/// Settings of the penguins demo.
#[derive(Clone, Debug)]
pub struct PenguinConfig {
    /// The CSV file.
    pub data: PathBuf,
    /// Number of epochs.
    pub epochs: usize,
    /// Seed for the split, initialisation and shuffling.
    pub seed: u64,
    /// Folder for the loss-curve plots; `None` writes no plots.
    pub out: Option<PathBuf>,
    /// Shows a progress bar when the terminal allows it.
    pub progress: bool,
}

impl Default for PenguinConfig {
    fn default() -> Self {
        Self {
            data: PathBuf::from(DATA_PATH),
            epochs: DEFAULT_EPOCHS,
            seed: crate::seattle::DEFAULT_SEED,
            out: None,
            progress: false,
        }
    }
}

/// Result of [`train_penguins`].
#[derive(Clone, Debug)]
pub struct PenguinReport {
    /// The trained model.
    pub model: Model,
    /// Input scaling fitted on the training split.
    pub input_scaler: Standardizer<3>,
    /// Body-mass scaling fitted on the training split.
    pub mass_scaler: Standardizer<1>,
    /// Every figure the demo prints.
    pub summary: PenguinSummary,
}

/// Every figure the penguins demo prints, in a form that serialises to JSON.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PenguinSummary {
    /// The CSV file.
    pub data: String,
    /// Rows kept and dropped for missing values.
    pub rows: DropReport,
    /// Kept rows without a sex, trained with the sex label masked.
    pub missing_sex: usize,
    /// Number of training samples.
    pub train_samples: usize,
    /// Number of test samples.
    pub test_samples: usize,
    /// Number of test samples with a sex label.
    pub test_sex_labels: usize,
    /// Epochs.
    pub epochs: usize,
    /// Seed of the split, initialisation and shuffling.
    pub seed: u64,
    /// Batch size.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f32,
    /// Test accuracy of the species head and of the majority species.
    pub species_accuracy: Baselined,
    /// Test accuracy of the sex head and of the majority sex, on labeled test samples.
    pub sex_accuracy: Baselined,
    /// Test RMSE of the body mass in g, and of the training mean.
    pub body_mass_rmse_g: Baselined,
    /// Training throughput.
    pub training: Throughput,
    /// Per-task train and test loss per epoch, in head order.
    pub loss_curves: History,
    /// Plot files written.
    pub plots: Vec<String>,
}

/// A test metric of the model beside the same metric of a baseline.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Baselined {
    /// The multi-task model.
    pub model: f64,
    /// The baseline.
    pub baseline: f64,
}

/// Reads the penguins, dropping rows with a missing measurement, body mass or species.
///
/// # Errors
/// A [`DataError`] for a missing column, an invalid number, an unknown species or sex, or a
/// malformed file.
pub fn load(path: impl AsRef<Path>) -> Result<(Vec<Penguin>, DropReport), DataError> {
    let table = Table::read(path)?;
    let measurements = [
        table.column(MEASUREMENTS[0])?,
        table.column(MEASUREMENTS[1])?,
        table.column(MEASUREMENTS[2])?,
    ];
    let mass = table.column("body_mass_g")?;
    let species = table.column("species")?;
    let sex = table.column("sex")?;

    let mut needed = measurements.to_vec();
    needed.extend([mass, species]);
    let (rows, report) = table.complete_rows(&needed);
    let mut penguins = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = [0.0; 3];
        for (value, &column) in values.iter_mut().zip(&measurements) {
            *value = row.required_number(column)?;
        }
        let class = row
            .choice(species, &SPECIES)?
            .ok_or_else(|| row.invalid(species, "a species"))?;
        penguins.push(Penguin {
            measurements: values,
            species: class as u32,
            male: row.choice(sex, &SEXES)?.map(|s| s == 1),
            body_mass_g: row.required_number(mass)?,
        });
    }
    Ok((penguins, report))
}

/// Shuffles `penguins` with `seed` and splits them into training ([`TRAIN_FRACTION`]) and
/// test.
pub fn split(penguins: &[Penguin], seed: u64) -> (Vec<Penguin>, Vec<Penguin>) {
    let mut shuffled = penguins.to_vec();
    Rng::new(seed).shuffle(&mut shuffled);
    let train_len = (shuffled.len() as f64 * TRAIN_FRACTION).round() as usize;
    let test = shuffled.split_off(train_len);
    (shuffled, test)
}

/// Runs the demo: loads the data, trains the model, scores it and its baselines on the test
/// split and writes the loss-curve plots.
///
/// # Errors
/// A [`DemoError`] for unreadable data, an empty split, a rejected training step or a plot
/// that cannot be written.
pub fn train_penguins(config: &PenguinConfig) -> Result<PenguinReport, DemoError> {
    let (penguins, rows) = load(&config.data)?;
    let (train, test) = split(&penguins, config.seed);
    for (split, set) in [("training", &train), ("test", &test)] {
        if set.is_empty() {
            return Err(DemoError::EmptySplit {
                path: config.data.clone(),
                split,
                detail: format!(
                    "{} complete rows split {:.0}/{:.0}",
                    penguins.len(),
                    TRAIN_FRACTION * 100.0,
                    (1.0 - TRAIN_FRACTION) * 100.0
                ),
            });
        }
    }

    let input_scaler = Standardizer::fit(train.iter().map(|p| &p.measurements));
    let masses: Vec<[f32; 1]> = train.iter().map(|p| [p.body_mass_g]).collect();
    let mass_scaler = Standardizer::fit(masses.iter());
    let scale_input = |p: &Penguin| {
        let mut x = p.measurements;
        input_scaler.apply(&mut x);
        x
    };
    let dataset = |set: &[Penguin]| {
        let mut data: Dataset<[f32; 3], Targets> = Dataset::default();
        for p in set {
            let mut mass = [p.body_mass_g];
            mass_scaler.apply(&mut mass);
            let sex = p.male.map(|male| [if male { 1.0 } else { 0.0 }]);
            data.push(scale_input(p), (Some(p.species), sex, Some(mass)));
        }
        data
    };

    let options = FitOptions {
        epochs: config.epochs,
        seed: config.seed,
        progress: config.progress,
        label: "penguins".to_string(),
    };
    let (model, history) = training::train_adam::<Model, _, BATCH>(
        &objective(),
        &dataset(&train),
        &dataset(&test),
        LEARNING_RATE,
        &options,
    )
    .map_err(|error| DemoError::Fit {
        model: options.label.clone(),
        error,
    })?;

    let test_inputs: Vec<[f32; 3]> = test.iter().map(scale_input).collect();
    let outputs = training::predict(&model, &test_inputs);

    let species_predicted: Vec<u32> = outputs
        .iter()
        .map(|(logits, _, _)| argmax(logits))
        .collect();
    let species_actual: Vec<u32> = test.iter().map(|p| p.species).collect();
    let majority_species =
        majority(&train.iter().map(|p| p.species).collect::<Vec<_>>()).unwrap_or(0);

    let mut sex_predicted = Vec::new();
    let mut sex_actual = Vec::new();
    for ((_, logit, _), p) in outputs.iter().zip(&test) {
        if let Some(male) = p.male {
            sex_predicted.push(logit[0] > 0.0);
            sex_actual.push(male);
        }
    }
    let majority_sex =
        majority(&train.iter().filter_map(|p| p.male).collect::<Vec<_>>()).unwrap_or(false);

    let mass_predicted: Vec<f32> = outputs
        .iter()
        .map(|(_, _, mass)| {
            let mut grams = *mass;
            mass_scaler.invert(&mut grams);
            grams[0]
        })
        .collect();
    let mass_actual: Vec<f32> = test.iter().map(|p| p.body_mass_g).collect();

    let mut plots = Vec::new();
    if let Some(out) = &config.out {
        let curves = Curves {
            title: "Palmer penguins: multi-task loss per epoch",
            tasks: &TASKS,
            history: &history,
        };
        for path in plot::write_loss_curves(&out.join("loss"), &curves)? {
            plots.push(path.display().to_string());
        }
    }

    let summary = PenguinSummary {
        data: config.data.display().to_string(),
        rows,
        missing_sex: penguins.iter().filter(|p| p.male.is_none()).count(),
        train_samples: train.len(),
        test_samples: test.len(),
        test_sex_labels: sex_actual.len(),
        epochs: config.epochs,
        seed: config.seed,
        batch_size: BATCH,
        learning_rate: LEARNING_RATE,
        species_accuracy: Baselined {
            model: accuracy(&species_predicted, &species_actual),
            baseline: accuracy(&vec![majority_species; test.len()], &species_actual),
        },
        sex_accuracy: Baselined {
            model: accuracy(&sex_predicted, &sex_actual),
            baseline: accuracy(&vec![majority_sex; sex_actual.len()], &sex_actual),
        },
        body_mass_rmse_g: Baselined {
            model: rmse(&mass_predicted, &mass_actual),
            baseline: rmse(&vec![mass_scaler.mean[0]; test.len()], &mass_actual),
        },
        training: Throughput {
            steps: history.steps,
            samples: history.samples,
            seconds: history.seconds,
            samples_per_second: history.samples_per_second(),
        },
        loss_curves: history,
        plots,
    };
    Ok(PenguinReport {
        model,
        input_scaler,
        mass_scaler,
        summary,
    })
}

/// Returns the index of the largest value, the first one on a tie.
fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best as u32
}

impl std::fmt::Display for PenguinSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "Palmer penguins: species, sex and body mass from bill and flipper"
        )?;
        writeln!(f, "  data      {}: {}", self.data, self.rows)?;
        writeln!(
            f,
            "            {} kept rows have no sex; their sex label is masked, not dropped",
            self.missing_sex
        )?;
        writeln!(
            f,
            "  split     {} training, {} test samples ({} with a sex label), seeded shuffle",
            self.train_samples, self.test_samples, self.test_sex_labels
        )?;
        writeln!(
            f,
            "  training  {} epochs, batch {}, Adam lr {}, seed {}; {}",
            self.epochs, self.batch_size, self.learning_rate, self.seed, self.training
        )?;
        writeln!(f)?;
        writeln!(f, "  test metrics             model  baseline")?;
        writeln!(
            f,
            "  {:<22}{:>7.3}{:>10.3}  (majority species)",
            "species accuracy", self.species_accuracy.model, self.species_accuracy.baseline
        )?;
        writeln!(
            f,
            "  {:<22}{:>7.3}{:>10.3}  (majority sex)",
            "sex accuracy", self.sex_accuracy.model, self.sex_accuracy.baseline
        )?;
        writeln!(
            f,
            "  {:<22}{:>7.0}{:>10.0}  (training mean)",
            "body mass RMSE (g)", self.body_mass_rmse_g.model, self.body_mass_rmse_g.baseline
        )?;
        for path in &self.plots {
            writeln!(f, "  wrote {path}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_first_maximum() {
        assert_eq!(argmax(&[0.1, 0.7, 0.7]), 1);
        assert_eq!(argmax(&[-1.0, -2.0, -3.0]), 0);
        assert_eq!(argmax(&[0.0, 0.0, 5.0]), 2);
    }

    #[test]
    fn split_is_seeded_and_complete() {
        let penguins: Vec<Penguin> = (0..10)
            .map(|i| Penguin {
                measurements: [i as f32; 3],
                species: 0,
                male: None,
                body_mass_g: 0.0,
            })
            .collect();
        let (train, test) = split(&penguins, 1);
        assert_eq!((train.len(), test.len()), (8, 2));
        assert_eq!(split(&penguins, 1).0, train);
        assert_ne!(split(&penguins, 2).0, train);
        let mut seen: Vec<f32> = train
            .iter()
            .chain(&test)
            .map(|p| p.measurements[0])
            .collect();
        seen.sort_by(f32::total_cmp);
        assert_eq!(seen, (0..10).map(|i| i as f32).collect::<Vec<_>>());
    }
}
