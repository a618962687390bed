//! The study's plots, each as SVG and PNG: `grad-norm` (gradient norm of each trunk layer at
//! the deepest depth run, at initialisation and during training) and `loss` (temperature
//! training loss against step at that depth).
//!
//! plotters is built without a font feature, so only the SVG files carry text (titles, axis
//! labels, legends). The PNG files have the same curves in the same colours, with a frame and
//! a grid line at each power of ten in place of the labelled axes.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{ActivationKind, ConfigurationSummary, Family, Remedy, StudyReport, LOSS_POINTS};

const COLORS: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(23, 190, 207),
];
const NORM_SIZE: (u32, u32) = (900, 1000);
const LOSS_SIZE: (u32, u32) = (900, 800);
/// Top of the loss axis. Diverged runs reach losses near `f32::MAX`, which would flatten every
/// other curve, so their lines leave the panel at this value (the z-scored loss starts near 1).
const LOSS_CEILING: f32 = 100.0;

/// One panel: a title and the configurations drawn in it.
struct Panel<'a> {
    title: &'static str,
    series: Vec<&'a ConfigurationSummary>,
}

/// Writes `grad-norm.{svg,png}` and `loss.{svg,png}` into `out`.
///
/// # Errors
/// When a plot cannot be drawn or written.
pub fn write_plots(report: &StudyReport, out: &Path) -> anyhow::Result<()> {
    let Some(depth) = report
        .configurations
        .iter()
        .map(|s| s.configuration.depth)
        .max()
    else {
        return Ok(());
    };
    let panels = panels(report, depth);

    let path = out.join("grad-norm.svg");
    let area = SVGBackend::new(&path, NORM_SIZE).into_drawing_area();
    draw_norms(&area, &panels, depth, true)?;
    let path = out.join("grad-norm.png");
    let area = BitMapBackend::new(&path, NORM_SIZE).into_drawing_area();
    draw_norms(&area, &panels, depth, false)?;

    let path = out.join("loss.svg");
    let area = SVGBackend::new(&path, LOSS_SIZE).into_drawing_area();
    draw_losses(&area, &panels, report.steps, true)?;
    let path = out.join("loss.png");
    let area = BitMapBackend::new(&path, LOSS_SIZE).into_drawing_area();
    draw_losses(&area, &panels, report.steps, false)
}

fn panels(report: &StudyReport, depth: usize) -> Vec<Panel<'_>> {
    let pick = |families: &[Family], activation| -> Vec<&ConfigurationSummary> {
        families
            .iter()
            .filter_map(|&family| report.find(family, activation, depth))
            .collect()
    };
    let remedies = [
        Family::Plain,
        Family::Exploding(Remedy::None),
        Family::Exploding(Remedy::ClipNorm),
        Family::Exploding(Remedy::WeightClip),
        Family::Exploding(Remedy::LinearDecay),
    ];
    let families = [
        Family::Plain,
        Family::BatchNorm,
        Family::Residual,
        Family::ResidualBatchNorm,
        Family::HeadsOnTop,
        Family::AuxiliaryHeads,
    ];
    vec![
        Panel {
            title: "sigmoid",
            series: pick(&families, ActivationKind::Sigmoid),
        },
        Panel {
            title: "tanh",
            series: pick(&families, ActivationKind::Tanh),
        },
        Panel {
            title: "tanh, exploding regime",
            series: pick(&remedies, ActivationKind::Tanh),
        },
    ]
}

fn draw_norms<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[Panel<'_>],
    depth: usize,
    text: bool,
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let areas = root.split_evenly((panels.len(), 2));
    for (row, panel) in panels.iter().enumerate() {
        let all = panel
            .series
            .iter()
            .flat_map(|s| s.init_norms.iter().chain(&s.training_norms).copied());
        let Some((low, high)) = positive_range(all) else {
            continue;
        };
        for (column, training) in [false, true].into_iter().enumerate() {
            let when = if training {
                "during training"
            } else {
                "at initialisation"
            };
            let mut chart = chart_on(
                &areas[2 * row + column],
                Axes {
                    title: format!("{}, depth {depth}: {when}", panel.title),
                    x: (1.0, depth as f32),
                    y: (low, high),
                    x_desc: "trunk dense layer (1 = input side)",
                    y_desc: "gradient L2 norm",
                },
                text,
            )?;
            for (k, summary) in panel.series.iter().enumerate() {
                let norms = if training {
                    &summary.training_norms
                } else {
                    &summary.init_norms
                };
                let points = norms
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| n.is_finite() && **n > 0.0)
                    .map(|(i, n)| ((i + 1) as f32, *n));
                draw_line(&mut chart, points, k, summary.configuration.family_name())?;
            }
            if text {
                legend(&mut chart)?;
            }
        }
    }
    root.present().map_err(plot_error)
}

fn draw_losses<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panels: &[Panel<'_>],
    steps: u32,
    text: bool,
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let areas = root.split_evenly((panels.len(), 1));
    let window = (steps as usize / LOSS_POINTS).max(1);
    for (area, panel) in areas.iter().zip(panels) {
        let all = panel
            .series
            .iter()
            .flat_map(|s| s.loss_curve.iter().copied());
        let Some((low, high)) = positive_range(all) else {
            continue;
        };
        let high = high.min(LOSS_CEILING).max(low * 10.0);
        let depth = panel.series.first().map_or(0, |s| s.configuration.depth);
        let mut chart = chart_on(
            area,
            Axes {
                title: format!("{}, depth {depth}: temperature training loss", panel.title),
                x: (0.0, steps as f32),
                y: (low, high),
                x_desc: "step",
                y_desc: "MSE, z-scored (median of seeds)",
            },
            text,
        )?;
        for (k, summary) in panel.series.iter().enumerate() {
            let points = summary
                .loss_curve
                .iter()
                .enumerate()
                .filter(|(_, l)| l.is_finite() && **l > 0.0)
                .map(|(i, l)| (((i + 1) * window) as f32, *l));
            draw_line(&mut chart, points, k, summary.configuration.family_name())?;
        }
        if text {
            legend(&mut chart)?;
        }
    }
    root.present().map_err(plot_error)
}

type LogChart<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<
        plotters::coord::types::RangedCoordf32,
        plotters::coord::combinators::LogCoord<f32>,
    >,
>;

fn draw_line<'a, DB: DrawingBackend + 'a>(
    chart: &mut LogChart<'a, DB>,
    points: impl Iterator<Item = (f32, f32)>,
    index: usize,
    label: &str,
) -> anyhow::Result<()> {
    let color = COLORS[index % COLORS.len()];
    chart
        .draw_series(LineSeries::new(points, color.stroke_width(2)))
        .map_err(plot_error)?
        .label(label)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    Ok(())
}

fn legend<'a, DB: DrawingBackend + 'a>(chart: &mut LogChart<'a, DB>) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(plot_error)
}

/// Title, ranges and axis descriptions of one panel; the y axis is logarithmic.
struct Axes {
    title: String,
    x: (f32, f32),
    y: (f32, f32),
    x_desc: &'static str,
    y_desc: &'static str,
}

/// Builds a panel's chart: with a caption and a labelled mesh when `text` is set, else with
/// a frame and a grid line at each power of ten, which need no font.
fn chart_on<'a, DB: DrawingBackend + 'a>(
    area: &'a DrawingArea<DB, Shift>,
    axes: Axes,
    text: bool,
) -> anyhow::Result<LogChart<'a, DB>> {
    let (left, right) = axes.x;
    let (low, high) = axes.y;
    let mut builder = ChartBuilder::on(area);
    builder.margin(10);
    if text {
        builder
            .caption(axes.title, ("sans-serif", 18))
            .x_label_area_size(40)
            .y_label_area_size(65);
    }
    let mut chart = builder
        .build_cartesian_2d(left..right, (low..high).log_scale())
        .map_err(plot_error)?;

    if text {
        chart
            .configure_mesh()
            .x_desc(axes.x_desc)
            .y_desc(axes.y_desc)
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()
            .map_err(plot_error)?;
        return Ok(chart);
    }
    let outline = vec![
        (left, low),
        (right, low),
        (right, high),
        (left, high),
        (left, low),
    ];
    chart
        .draw_series(LineSeries::new(outline, BLACK))
        .map_err(plot_error)?;
    let mut power = 10f32.powf(low.log10().ceil());
    while power < high {
        let line = vec![(left, power), (right, power)];
        chart
            .draw_series(LineSeries::new(line, BLACK.mix(0.15)))
            .map_err(plot_error)?;
        power *= 10.0;
    }
    Ok(chart)
}

/// Returns a log-scale range around the positive finite values, padded by a factor of two.
fn positive_range(values: impl Iterator<Item = f32>) -> Option<(f32, f32)> {
    let (low, high) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f32::INFINITY, 0.0f32), |(l, h), v| (l.min(v), h.max(v)));
    (high > 0.0).then_some((low / 2.0, high * 2.0))
}

fn plot_error(error: impl std::fmt::Debug) -> anyhow::Error {
    anyhow::anyhow!("failed to draw a study plot: {error:?}")
}
