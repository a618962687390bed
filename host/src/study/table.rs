//! The study's tables: `results.md` (one row per configuration), `layer-norms.csv` (the
//! median gradient norm of every trunk layer) and `loss-curves.csv` (the median loss curve of
//! every configuration).

use std::fmt::Write as _;
use std::path::Path;

use super::{Spread, StudyReport, BATCH, LOSS_POINTS, PROBE_BATCHES};

/// Writes `results.md`, `layer-norms.csv` and `loss-curves.csv` into `out`.
///
/// # Errors
/// When a file cannot be written.
pub fn write_tables(report: &StudyReport, out: &Path) -> anyhow::Result<()> {
    write(out, "results.md", &results_markdown(report))?;
    write(out, "layer-norms.csv", &layer_norms_csv(report))?;
    write(out, "loss-curves.csv", &loss_curves_csv(report))
}

fn write(out: &Path, name: &str, text: &str) -> anyhow::Result<()> {
    let path = out.join(name);
    std::fs::write(&path, text)
        .map_err(|e| anyhow::anyhow!("failed to write {}: {e}", path.display()))
}

/// Returns the results table in Markdown, with the settings and machine it was measured on.
pub fn results_markdown(report: &StudyReport) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "# Gradient-flow study: measured figures\n");
    let _ = writeln!(
        text,
        "Written by `gradwell study gradient-flow`. {} seeds per configuration, {} SGD steps \
         of batch {BATCH} (learning rate {}; in the exploding regime dense weights ×{} at \
         initialisation and learning rate {}), {} worker threads, wall time {:.1} s, on {}.\n",
        report.seeds,
        report.steps,
        report.learning_rate,
        report.exploding_init_scale,
        report.exploding_learning_rate,
        report.threads,
        report.wall_time.as_secs_f32(),
        machine()
    );
    let _ = writeln!(
        text,
        "Ratio: gradient norm of the first trunk dense layer over the last trunk dense layer's; \
         at init the mean over {PROBE_BATCHES} batches before any update, in training the mean \
         over the accepted steps of the second half. Cells: median over seeds (min–max). \
         Loss: temperature training MSE (z-scored) of the last of {LOSS_POINTS} windows.\n"
    );
    let _ = writeln!(
        text,
        "| activation | family | depth | ratio at init | ratio in training | test RMSE °C | final loss | rejected steps |"
    );
    let _ = writeln!(text, "|---|---|---:|---|---|---|---:|---|");
    for summary in &report.configurations {
        let c = &summary.configuration;
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            c.activation_name(),
            c.family_name(),
            c.depth,
            spread(&summary.init_ratio),
            spread(&summary.training_ratio),
            spread(&summary.test_rmse),
            number(summary.loss_curve.last().copied().unwrap_or(f32::NAN)),
            spread(&summary.rejected_steps),
        );
    }
    let rejections: Vec<String> = report
        .configurations
        .iter()
        .flat_map(|s| {
            s.runs.iter().filter_map(move |r| {
                r.first_rejection.as_ref().map(|first| {
                    format!(
                        "- {} {} depth {}, seed {}: {} of {} steps rejected, first at {first}",
                        s.configuration.activation_name(),
                        s.configuration.family_name(),
                        s.configuration.depth,
                        r.seed,
                        r.rejected_steps,
                        r.rejected_steps + r.accepted_steps,
                    )
                })
            })
        })
        .collect();
    let _ = writeln!(text, "\n## Rejected steps\n");
    if rejections.is_empty() {
        let _ = writeln!(text, "No step was rejected.");
    } else {
        let _ = writeln!(text, "{}", rejections.join("\n"));
    }
    text
}

/// Returns one CSV row per configuration and trunk layer with the median norms over seeds.
pub fn layer_norms_csv(report: &StudyReport) -> String {
    let mut text = String::from("activation,family,depth,layer,init_norm,training_norm\n");
    for summary in &report.configurations {
        let c = &summary.configuration;
        for (layer, (init, training)) in summary
            .init_norms
            .iter()
            .zip(&summary.training_norms)
            .enumerate()
        {
            let _ = writeln!(
                text,
                "{},{},{},{},{init:e},{training:e}",
                c.activation_name(),
                c.family_name(),
                c.depth,
                layer + 1
            );
        }
    }
    text
}

/// Returns one CSV row per configuration and loss-curve point: the last step of the point's
/// window and the median over seeds of the window's mean temperature training loss.
pub fn loss_curves_csv(report: &StudyReport) -> String {
    let window = (report.steps as usize / LOSS_POINTS).max(1);
    let mut text = String::from("activation,family,depth,step,loss\n");
    for summary in &report.configurations {
        let c = &summary.configuration;
        for (point, loss) in summary.loss_curve.iter().enumerate() {
            let _ = writeln!(
                text,
                "{},{},{},{},{loss:e}",
                c.activation_name(),
                c.family_name(),
                c.depth,
                (point + 1) * window
            );
        }
    }
    text
}

fn spread(s: &Spread) -> String {
    if s.count == 0 {
        return "n/a".to_owned();
    }
    format!("{} ({}–{})", number(s.median), number(s.min), number(s.max))
}

/// Formats with three significant digits, in scientific notation outside `[0.01, 10⁴)`.
fn number(x: f32) -> String {
    if !x.is_finite() {
        return "n/a".to_owned();
    }
    let magnitude = x.abs();
    if x == 0.0 {
        "0".to_owned()
    } else if (0.01..10_000.0).contains(&magnitude) {
        let decimals = (2 - magnitude.log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        format!("{x:.2e}")
    }
}

/// Returns the CPU model and core count, from `/proc/cpuinfo` where it exists.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_owned())
        })
        .unwrap_or_else(|| "an unknown CPU".to_owned());
    format!("{model}, {cores} cores, {}", std::env::consts::ARCH)
}
