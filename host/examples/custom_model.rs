//! Defines a model type of its own and trains it on `data/penguins.csv` with the desktop data
//! loading and training helpers.
//!
//! The model is a plain `gradwell` type: fixed sizes, no heap. The same type alias compiles in
//! a `#![no_std]` firmware crate, where `Trainer` and the model live in `static`s, so a model
//! designed and checked here is the model that trains on the device.
//!
//! Run from the repository root: `cargo run --release -p gradwell-host --example custom_model`.

use gradwell::{
    seq, Adam, BatchNorm, Dense, Layer, MultiTask, Relu, SoftmaxCrossEntropy, Standardizer, Task,
    Trainer,
};
use gradwell_host::data::Table;
use gradwell_host::metrics::accuracy;
use gradwell_host::training::{self, Dataset, FitOptions};

/// Species from bill length and bill depth: a 2 → 16 trunk with batch normalisation and one
/// 3-class head.
type SpeciesModel = MultiTask<seq![Dense<2, 16, Relu>, BatchNorm<16>], (Dense<16, 3>,)>;

/// Samples per batch, on the desktop and on a device alike.
const BATCH: usize = 8;

const SPECIES: [&str; 3] = ["Adelie", "Chinstrap", "Gentoo"];

fn main() -> anyhow::Result<()> {
    let table = Table::read("data/penguins.csv")?;
    let length = table.column("bill_length_mm")?;
    let depth = table.column("bill_depth_mm")?;
    let species = table.column("species")?;
    let (rows, dropped) = table.complete_rows(&[length, depth, species]);
    println!("data/penguins.csv: {dropped}");

    // Every fifth penguin tests; the others train.
    let mut train_rows = Vec::new();
    let mut test_rows = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let input = [row.required_number(length)?, row.required_number(depth)?];
        let class = row.choice(species, &SPECIES)?.unwrap_or_default() as u32;
        if i % 5 == 4 {
            test_rows.push((input, class));
        } else {
            train_rows.push((input, class));
        }
    }

    let scaler = Standardizer::fit(train_rows.iter().map(|(x, _)| x));
    let dataset = |rows: &[([f32; 2], u32)]| {
        let mut data = Dataset::default();
        for &(mut x, class) in rows {
            scaler.apply(&mut x);
            data.push(x, (Some(class),));
        }
        data
    };
    let (train, test) = (dataset(&train_rows), dataset(&test_rows));

    let objective = (Task::new(SoftmaxCrossEntropy),);
    let options = FitOptions {
        epochs: 60,
        seed: 7,
        progress: true,
        label: "species".into(),
    };
    let (model, history) =
        training::train_adam::<SpeciesModel, _, BATCH>(&objective, &train, &test, 1e-2, &options)?;

    let predicted: Vec<u32> = training::predict(&model, &test.inputs)
        .iter()
        .map(|(logits,)| {
            (0..3)
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                .unwrap_or(0) as u32
        })
        .collect();
    let labels: Vec<u32> = test
        .targets
        .iter()
        .map(|(class,)| class.unwrap_or(0))
        .collect();
    println!(
        "trained {} steps at {:.0} samples/s; test accuracy {:.3} on {} penguins",
        history.steps,
        history.samples_per_second(),
        accuracy(&predicted, &labels),
        labels.len()
    );

    // Memory the same type takes on a device: the model, and a trainer for batches of 8.
    println!(
        "on a device: {} parameters ({} bytes), trainer with Adam and batch {BATCH}: {} bytes",
        SpeciesModel::TRAINABLE,
        std::mem::size_of::<SpeciesModel>(),
        std::mem::size_of::<Trainer<SpeciesModel, Adam, BATCH>>()
    );
    Ok(())
}
