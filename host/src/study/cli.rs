//! The `gradwell study …` subcommands.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{
    run_gradient_flow_study, Spread, StudyConfig, StudyReport, DEFAULT_SEEDS, DEFAULT_STEPS,
};

/// `gradwell study …`.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Measures per-layer gradient norms of deep networks, and the remedies for vanishing and
    /// exploding gradients, on the Seattle weather data, and writes tables and plots.
    GradientFlow(GradientFlowArgs),
}

/// Options of `gradwell study gradient-flow`.
#[derive(Debug, Args)]
pub struct GradientFlowArgs {
    /// Folder for results.md, layer-norms.csv, loss-curves.csv and the plots (grad-norm and
    /// loss, SVG and PNG).
    #[arg(long, value_name = "DIR", default_value = "out/gradient-flow")]
    pub out: PathBuf,
    /// Seeds per configuration.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SEEDS)]
    pub seeds: u64,
    /// Training steps per run (batches of 32).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_STEPS)]
    pub steps: u32,
    /// Seattle weather CSV file [default: data/seattle-weather.csv of this repository].
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Prints the measured figures of every configuration as one JSON document on standard
    /// output, besides writing the files.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `gradwell study` subcommand and prints where its results went.
///
/// # Errors
/// When the study fails; see [`run_gradient_flow_study`].
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::GradientFlow(args) => {
            let defaults = StudyConfig::default();
            let config = StudyConfig {
                out: Some(args.out.clone()),
                seeds: args.seeds,
                steps: args.steps,
                data: args.data.unwrap_or(defaults.data.clone()),
                verbose: !args.json,
                ..defaults
            };
            let report = run_gradient_flow_study(&config)?;
            if args.json {
                println!("{}", report_json(&report, &args.out));
                return Ok(());
            }
            println!(
                "gradient-flow study: {} configurations × {} seeds × {} steps in {:.1} s on {} threads; results in {}",
                report.configurations.len(),
                report.seeds,
                report.steps,
                report.wall_time.as_secs_f32(),
                report.threads,
                args.out.display()
            );
            Ok(())
        }
    }
}

/// Returns the figures of `report` as JSON: the run's settings and, per configuration, the
/// medians and ranges the markdown report tabulates.
fn report_json(report: &StudyReport, out: &std::path::Path) -> serde_json::Value {
    let spread = |s: &Spread| serde_json::json!({ "median": s.median, "min": s.min, "max": s.max });
    let configurations: Vec<_> = report
        .configurations
        .iter()
        .map(|c| {
            serde_json::json!({
                "family": c.configuration.family_name(),
                "activation": c.configuration.activation_name(),
                "depth": c.configuration.depth,
                "init_ratio": spread(&c.init_ratio),
                "training_ratio": spread(&c.training_ratio),
                "test_rmse": spread(&c.test_rmse),
                "rejected_steps": spread(&c.rejected_steps),
                "init_norms": c.init_norms,
                "training_norms": c.training_norms,
            })
        })
        .collect();
    serde_json::json!({
        "out": out.display().to_string(),
        "seeds": report.seeds,
        "steps": report.steps,
        "threads": report.threads,
        "seconds": report.wall_time.as_secs_f64(),
        "configurations": configurations,
    })
}
