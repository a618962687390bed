//! The error shared by the demos.

use std::path::PathBuf;

use crate::data::DataError;
use crate::plot::PlotError;
use crate::training::FitError;

/// Error of a demo run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The data could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A split has no samples.
    #[error("{file}: no {split} samples: {detail}", file = .path.display())]
    EmptySplit {
        /// The CSV file.
        path: PathBuf,
        /// "training" or "test".
        split: &'static str,
        /// Definition of the split, for the message.
        detail: String,
    },
    /// A training step failed.
    #[error("{model}: {error}")]
    Fit {
        /// Name of the model that was training.
        model: String,
        /// The failure.
        error: FitError,
    },
    /// A plot could not be written.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// The trained model's checkpoint could not be saved.
    #[error("{0:#}")]
    Checkpoint(anyhow::Error),
}
