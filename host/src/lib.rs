//! Desktop side of gradwell: real data, training runs and weight interchange, on the same `core`
//! code that runs on the device.
//!
//! - [`data`]: CSV loading with errors naming the file, line, column and value, and an explicit
//!   missing-value policy.
//! - [`training`]: epoch loops around the core `Trainer`, loss curves, batched prediction.
//! - [`metrics`]: RMSE, accuracy and F1.
//! - [`seattle`] and [`penguins`]: the demos behind `gradwell demo seattle` and
//!   `gradwell demo penguins`.
//! - [`plot`]: loss-curve plots as SVG and PNG.
//! - [`checkpoint`]: atomic checkpoint files and the `inspect`, `export` and `import` commands.
//! - [`safetensors`]: weight interchange with PyTorch by `state_dict` name.

pub mod checkpoint;
pub mod data;
pub mod demo;
pub mod metrics;
pub mod penguins;
pub mod plot;
pub mod safetensors;
pub mod seattle;
pub mod study;
pub mod training;
