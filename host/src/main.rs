//! `gradwell`: the desktop tool. Runs the demos on real data sets.
//!
//! Every failure prints one line, `error: …`, on standard error and exits with status 1.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gradwell_host::{checkpoint, penguins, seattle, study, training};

#[derive(Parser)]
#[command(
    name = "gradwell",
    version,
    about = "Train small gradwell networks on the desktop"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Trains and scores a demo model on a bundled data set.
    #[command(subcommand)]
    Demo(Demo),
    /// `inspect`, `export` and `import`: checkpoints and safetensors files.
    #[command(flatten)]
    Checkpoint(checkpoint::Command),
    /// Studies that train families of models and write a report with plots.
    #[command(subcommand)]
    Study(study::cli::Command),
}

#[derive(Subcommand)]
enum Demo {
    /// Predicts tomorrow's temperatures and rain in Seattle from yesterday and today.
    Seattle(DemoArgs),
    /// Predicts a penguin's species, sex and body mass from its bill and flipper.
    Penguins(DemoArgs),
}

#[derive(Args)]
struct DemoArgs {
    /// CSV file [default: the repository's data/seattle-weather.csv or data/penguins.csv].
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// Number of training epochs, at least 1 [default: 20 for seattle, 150 for penguins].
    #[arg(long, value_name = "N", value_parser = parse_epochs)]
    epochs: Option<usize>,
    /// Seed for initialisation, shuffling and the penguins split.
    #[arg(long, value_name = "S", default_value_t = seattle::DEFAULT_SEED)]
    seed: u64,
    /// Folder for the loss-curve plots (loss.svg, loss.png) and, for seattle, the trained
    /// model (model.gwck) [default: out/seattle or out/penguins].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Prints every figure as one JSON document on standard output instead of the text report.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(Demo::Seattle(args)) => run_seattle(args),
        Command::Demo(Demo::Penguins(args)) => run_penguins(args),
        Command::Checkpoint(command) => checkpoint::run(command),
        Command::Study(command) => study::cli::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_seattle(args: DemoArgs) -> anyhow::Result<()> {
    let config = seattle::DemoConfig {
        data: args.data.unwrap_or_else(|| seattle::DATA_PATH.into()),
        epochs: args.epochs.unwrap_or(seattle::DEFAULT_EPOCHS),
        seed: args.seed,
        out: Some(args.out.unwrap_or_else(|| PathBuf::from("out/seattle"))),
        progress: !args.json,
    };
    if !args.json && training::is_interactive() {
        eprintln!(
            "training 4 models for {} epochs on {}",
            config.epochs,
            config.data.display()
        );
    }
    let report = seattle::train_seattle(&config)?;
    print_summary(&report.summary, args.json)
}

fn run_penguins(args: DemoArgs) -> anyhow::Result<()> {
    let config = penguins::PenguinConfig {
        data: args.data.unwrap_or_else(|| penguins::DATA_PATH.into()),
        epochs: args.epochs.unwrap_or(penguins::DEFAULT_EPOCHS),
        seed: args.seed,
        out: Some(args.out.unwrap_or_else(|| PathBuf::from("out/penguins"))),
        progress: !args.json,
    };
    let report = penguins::train_penguins(&config)?;
    print_summary(&report.summary, args.json)
}

fn print_summary<S: serde::Serialize + std::fmt::Display>(
    summary: &S,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(summary)?);
    } else {
        print!("{summary}");
    }
    Ok(())
}

/// Parses `--epochs`, which must be a whole number of at least 1.
fn parse_epochs(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1: an untrained model has nothing to score".into()),
        Ok(epochs) => Ok(epochs),
        Err(_) => Err(format!("expected a whole number of epochs, found {text:?}")),
    }
}
