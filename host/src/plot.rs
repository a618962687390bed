//! Loss-curve plots, one panel per task with the train and test loss per epoch, as SVG and PNG.
//!
//! plotters is built without its font features (`ttf`, `ab_glyph`) so the tool needs no system
//! font libraries. The SVG backend writes text as `<text>` elements that the viewer renders,
//! so the SVG has its title, task names, axis labels and legend. The bitmap backend cannot
//! rasterise text without a font, so the PNG has the same axes, grid and curves but no text:
//! train is blue, test is red.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::training::History;

/// Size of a plot in pixels, for both formats.
const SIZE: (u32, u32) = (1200, 420);

/// Input of [`write_loss_curves`]: a title and the per-task curves.
pub struct Curves<'a> {
    /// Title above the panels.
    pub title: &'a str,
    /// Task names, in the order of the losses in `history`.
    pub tasks: &'a [&'a str],
    /// The losses per epoch.
    pub history: &'a History,
}

/// Error writing a plot file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The output folder could not be created.
    #[error("{file}: cannot create the output folder: {source}", file = .path.display())]
    Folder {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// plotters failed to draw or write the file.
    #[error("{file}: cannot draw the plot: {message}", file = .path.display())]
    Draw {
        /// The file.
        path: PathBuf,
        /// plotters' message.
        message: String,
    },
}

/// Writes `{stem}.svg` and `{stem}.png` and returns their paths.
///
/// # Errors
/// A [`PlotError`] when the folder cannot be created or a file cannot be written.
pub fn write_loss_curves(stem: &Path, curves: &Curves<'_>) -> Result<Vec<PathBuf>, PlotError> {
    if let Some(folder) = stem.parent().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|source| PlotError::Folder {
            path: folder.to_path_buf(),
            source,
        })?;
    }
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    let draw_error = |path: &Path| {
        let path = path.to_path_buf();
        move |error: String| PlotError::Draw {
            path,
            message: error,
        }
    };

    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        draw(&root, curves, true).map_err(draw_error(&svg))?;
        root.present()
            .map_err(|e| draw_error(&svg)(e.to_string()))?;
    }
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        draw(&root, curves, false).map_err(draw_error(&png))?;
        root.present()
            .map_err(|e| draw_error(&png)(e.to_string()))?;
    }
    Ok(vec![svg, png])
}

fn draw<B: DrawingBackend>(
    root: &DrawingArea<B, Shift>,
    curves: &Curves<'_>,
    text: bool,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = if text {
        root.titled(curves.title, ("sans-serif", 22))
            .map_err(|e| e.to_string())?
    } else {
        root.margin(30, 0, 0, 0)
    };
    let panels = root.split_evenly((1, curves.tasks.len().max(1)));
    let epochs = curves.history.train.len();

    for (task, (panel, name)) in panels.iter().zip(curves.tasks).enumerate() {
        let series = |losses: &[Vec<f32>]| -> Vec<(f32, f32)> {
            losses
                .iter()
                .enumerate()
                .map(|(epoch, values)| {
                    (
                        (epoch + 1) as f32,
                        values.get(task).copied().unwrap_or(f32::NAN),
                    )
                })
                .filter(|(_, loss)| loss.is_finite())
                .collect()
        };
        let train = series(&curves.history.train);
        let test = series(&curves.history.test);
        let top = train
            .iter()
            .chain(&test)
            .map(|&(_, loss)| loss)
            .fold(0.0f32, f32::max)
            .max(1e-6)
            * 1.05;

        let mut builder = ChartBuilder::on(panel);
        builder.margin(12);
        if text {
            builder
                .caption(*name, ("sans-serif", 18))
                .x_label_area_size(36)
                .y_label_area_size(48);
        }
        let mut chart = builder
            .build_cartesian_2d(1f32..(epochs.max(2) as f32), 0f32..top)
            .map_err(|e| e.to_string())?;
        if text {
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc("loss")
                .draw()
                .map_err(|e| e.to_string())?;
        } else {
            // The mesh draws tick labels, which need a font, so the PNG gets a frame and
            // horizontal grid lines at quarters of the loss range instead.
            let x_end = epochs.max(2) as f32;
            let frame = vec![
                (1.0, 0.0),
                (x_end, 0.0),
                (x_end, top),
                (1.0, top),
                (1.0, 0.0),
            ];
            chart
                .draw_series(LineSeries::new(frame, BLACK))
                .map_err(|e| e.to_string())?;
            for quarter in 1..4 {
                let y = top * quarter as f32 / 4.0;
                chart
                    .draw_series(LineSeries::new(vec![(1.0, y), (x_end, y)], BLACK.mix(0.15)))
                    .map_err(|e| e.to_string())?;
            }
        }

        let train_series = chart
            .draw_series(LineSeries::new(train, BLUE.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        if text {
            train_series
                .label("train")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
        }
        let test_series = chart
            .draw_series(LineSeries::new(test, RED.stroke_width(2)))
            .map_err(|e| e.to_string())?;
        if text {
            test_series
                .label("test")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_svg_with_labels_and_png() {
        let history = History {
            train: vec![vec![1.0, 0.5], vec![0.6, 0.4], vec![0.4, 0.3]],
            test: vec![vec![1.1, 0.6], vec![0.7, 0.5], vec![0.5, 0.45]],
            ..History::default()
        };
        let folder = std::env::temp_dir().join(format!("gradwell-plot-{}", std::process::id()));
        let curves = Curves {
            title: "test curves",
            tasks: &["alpha", "beta"],
            history: &history,
        };
        let paths = write_loss_curves(&folder.join("loss"), &curves).unwrap();
        assert_eq!(paths.len(), 2);
        let svg = std::fs::read_to_string(&paths[0]).unwrap();
        assert!(svg.contains("test curves"));
        assert!(svg.contains("alpha"));
        assert!(svg.contains("<polyline"));
        let png = std::fs::read(&paths[1]).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        std::fs::remove_dir_all(&folder).unwrap();
    }
}
