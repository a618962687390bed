//! Weight interchange with PyTorch through the safetensors format.
//!
//! [`export`] writes every tensor of a model under its PyTorch `state_dict` name (the names of
//! [`Layer::visit_tensors`] with an empty prefix and index 0, such as `0.trunk.0.weight`), as
//! `F32` with the shape of its [`TensorInfo`]. A PyTorch module whose `state_dict` has the same
//! names loads the file with `model.load_state_dict(safetensors.torch.load_file(path))`.
//!
//! [`import`] reads such a file back by name. It is as strict as PyTorch's
//! `load_state_dict(strict=True)`:
//!
//! - every tensor of the model must be present, as `F32`, with the model's shape, and finite;
//! - an extra tensor the model does not have is an error ([`ImportError::UnexpectedTensor`]),
//!   because it usually means the file belongs to another architecture;
//! - the one exception is `num_batches_tracked`, the step counter PyTorch's `BatchNorm1d` keeps
//!   beside `running_mean`. gradwell's batch normalisation uses a fixed momentum and has no such
//!   counter, so it is accepted and ignored when the model has the matching `running_mean`.
//!
//! Everything is checked before the model is written, so a rejected file leaves the model
//! unchanged.

use std::collections::HashMap;

use ::safetensors::tensor::{Dtype, TensorView};
use ::safetensors::SafeTensors;
use gradwell::{Layer, TensorInfo};

/// Suffix of the batch-norm step counter PyTorch stores and gradwell ignores.
pub const NUM_BATCHES_TRACKED: &str = "num_batches_tracked";

/// Error from [`import`]. The model is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The data is not a valid safetensors file.
    #[error("invalid safetensors file: {0}")]
    InvalidFile(String),
    /// A tensor of the model is not in the file.
    #[error("tensor {name} is missing from the file")]
    MissingTensor {
        /// The tensor's `state_dict` name.
        name: String,
    },
    /// The file has a tensor the model does not have.
    #[error("unexpected tensor {name} in the file: the model has no tensor of that name")]
    UnexpectedTensor {
        /// The tensor's name in the file.
        name: String,
    },
    /// A tensor has another shape than the model's.
    #[error("tensor {name} has shape {found:?} in the file, expected {expected:?}")]
    ShapeMismatch {
        /// The tensor's `state_dict` name.
        name: String,
        /// The model's shape.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor is not `F32`.
    #[error("tensor {name} has dtype {found} in the file, expected F32")]
    WrongDtype {
        /// The tensor's `state_dict` name.
        name: String,
        /// The dtype in the file, as safetensors names it (such as `F16`).
        found: String,
    },
    /// A value is NaN or infinite.
    #[error("value {offset} of tensor {name} is not finite")]
    NonFinite {
        /// The tensor's `state_dict` name.
        name: String,
        /// Index of the value in the flattened tensor.
        offset: usize,
    },
}

/// One tensor of a safetensors file, as [`list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSummary {
    /// Name in the file.
    pub name: String,
    /// Element type, as safetensors names it (such as `F32`).
    pub dtype: String,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
}

/// Serializes every tensor of `model` to safetensors bytes, under its `state_dict` name.
///
/// # Errors
/// The safetensors crate's error, which only a model with two tensors of the same name causes.
pub fn export<M: Layer>(model: &M) -> Result<Vec<u8>, ::safetensors::SafeTensorError> {
    export_with_metadata(model, None)
}

/// Serializes every tensor of `model` like [`export`], with `metadata` as the file's
/// `__metadata__` strings.
///
/// # Errors
/// The safetensors crate's error, which only a model with two tensors of the same name causes.
pub fn export_with_metadata<M: Layer>(
    model: &M,
    metadata: Option<HashMap<String, String>>,
) -> Result<Vec<u8>, ::safetensors::SafeTensorError> {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    model.visit_tensors("", 0, &mut |info: &TensorInfo<'_>, values: &[f32]| {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push((info.name.to_owned(), info.shape.to_vec(), bytes));
    });

    let mut views = Vec::with_capacity(tensors.len());
    for (name, shape, bytes) in &tensors {
        views.push((
            name.as_str(),
            TensorView::new(Dtype::F32, shape.clone(), bytes)?,
        ));
    }
    ::safetensors::serialize(views, metadata)
}

/// Returns the `__metadata__` strings of safetensors `bytes`, empty when there are none.
///
/// # Errors
/// [`ImportError::InvalidFile`] when the header cannot be read.
pub fn metadata(bytes: &[u8]) -> Result<HashMap<String, String>, ImportError> {
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| ImportError::InvalidFile(e.to_string()))?;
    Ok(header.metadata().clone().unwrap_or_default())
}

/// Reads the tensors of `model` from safetensors `bytes`, by name.
///
/// Returns the names of the tensors that were accepted and ignored (`num_batches_tracked`).
///
/// # Errors
/// An [`ImportError`] for an invalid file, a missing, unexpected, misshapen, non-`F32` or
/// non-finite tensor. The model is then unchanged.
pub fn import<M: Layer>(bytes: &[u8], model: &mut M) -> Result<Vec<String>, ImportError> {
    let file =
        SafeTensors::deserialize(bytes).map_err(|e| ImportError::InvalidFile(e.to_string()))?;

    // Check every tensor the model expects, collecting the values to write.
    let mut values_by_name: HashMap<String, Vec<f32>> = HashMap::new();
    let mut batch_norm_prefixes: Vec<String> = Vec::new();
    let mut first_error = None;
    model.visit_tensors("", 0, &mut |info: &TensorInfo<'_>, _| {
        if first_error.is_some() {
            return;
        }
        if let Some(prefix) = info.name.strip_suffix("running_mean") {
            batch_norm_prefixes.push(prefix.to_owned());
        }
        match read_tensor(&file, info) {
            Ok(values) => {
                values_by_name.insert(info.name.to_owned(), values);
            }
            Err(error) => first_error = Some(error),
        }
    });
    if let Some(error) = first_error {
        return Err(error);
    }

    // Check that the file has nothing else, apart from the batch-norm step counters.
    let mut ignored = Vec::new();
    let mut names = file.names();
    names.sort_unstable();
    for name in names {
        if values_by_name.contains_key(name) {
            continue;
        }
        let is_step_counter = name
            .strip_suffix(NUM_BATCHES_TRACKED)
            .is_some_and(|prefix| batch_norm_prefixes.iter().any(|p| p == prefix));
        if !is_step_counter {
            return Err(ImportError::UnexpectedTensor {
                name: name.to_owned(),
            });
        }
        ignored.push(name.to_owned());
    }

    // Everything is valid: write.
    model.visit_tensors_mut("", 0, &mut |info: &TensorInfo<'_>, target: &mut [f32]| {
        target.copy_from_slice(&values_by_name[info.name]);
    });
    Ok(ignored)
}

/// Lists the tensors of safetensors `bytes` in the order of their data in the file.
///
/// # Errors
/// [`ImportError::InvalidFile`] when the bytes are not a valid safetensors file.
pub fn list(bytes: &[u8]) -> Result<Vec<TensorSummary>, ImportError> {
    let (_, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|e| ImportError::InvalidFile(e.to_string()))?;
    let mut tensors: Vec<_> = metadata.tensors().into_iter().collect();
    tensors.sort_by_key(|(name, info)| (info.data_offsets.0, name.clone()));
    Ok(tensors
        .into_iter()
        .map(|(name, info)| TensorSummary {
            name,
            dtype: info.dtype.to_string(),
            shape: info.shape.clone(),
        })
        .collect())
}

/// Returns the values of the tensor `info` names, checked for dtype, shape and finiteness.
fn read_tensor(file: &SafeTensors<'_>, info: &TensorInfo<'_>) -> Result<Vec<f32>, ImportError> {
    let view = file
        .tensor(info.name)
        .map_err(|_| ImportError::MissingTensor {
            name: info.name.to_owned(),
        })?;
    if view.dtype() != Dtype::F32 {
        return Err(ImportError::WrongDtype {
            name: info.name.to_owned(),
            found: view.dtype().to_string(),
        });
    }
    if view.shape() != info.shape {
        return Err(ImportError::ShapeMismatch {
            name: info.name.to_owned(),
            expected: info.shape.to_vec(),
            found: view.shape().to_vec(),
        });
    }

    // safetensors stores little-endian values; the crate has checked that the data length is
    // the shape's element count times 4.
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect();
    if let Some(offset) = values.iter().position(|v| !v.is_finite()) {
        return Err(ImportError::NonFinite {
            name: info.name.to_owned(),
            offset,
        });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gradwell::{build, seq, BatchNorm, Dense, Init, PyTorchBatchNorm, Relu, Zeroed};

    type Small = seq![Dense<3, 4, Relu>, BatchNorm<4, PyTorchBatchNorm>, Dense<4, 2>];

    /// Serializes `(name, dtype, shape, values)` entries, each value stored as 4 bytes.
    fn file(entries: &[(&str, Dtype, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
        let data: Vec<Vec<u8>> = entries
            .iter()
            .map(|(_, _, _, values)| values.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let views: Vec<_> = entries
            .iter()
            .zip(&data)
            .map(|((name, dtype, shape, _), bytes)| {
                (
                    *name,
                    TensorView::new(*dtype, shape.clone(), bytes).unwrap(),
                )
            })
            .collect();
        ::safetensors::serialize(views, None).unwrap()
    }

    /// Returns the entries of `model`'s tensors, to modify before calling [`file`].
    fn entries<M: Layer>(model: &M) -> Vec<(String, Dtype, Vec<usize>, Vec<f32>)> {
        let mut entries = Vec::new();
        model.visit_tensors("", 0, &mut |info, values| {
            entries.push((
                info.name.to_owned(),
                Dtype::F32,
                info.shape.to_vec(),
                values.to_vec(),
            ));
        });
        entries
    }

    fn file_of(entries: &[(String, Dtype, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
        let borrowed: Vec<_> = entries
            .iter()
            .map(|(name, dtype, shape, values)| {
                (name.as_str(), *dtype, shape.clone(), values.clone())
            })
            .collect();
        file(&borrowed)
    }

    fn numbered_model() -> Small {
        let mut model: Small = build(Init::PyTorch, 1);
        let mut next = 0.0f32;
        model.visit_tensors_mut("", 0, &mut |_, values| {
            for v in values {
                next += 0.5;
                *v = next;
            }
        });
        model
    }

    #[test]
    fn export_import_round_trip() {
        let model = numbered_model();
        let bytes = export(&model).unwrap();

        let listed = list(&bytes).unwrap();
        let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(listed.len(), 8);
        assert!(names.contains(&"1.running_var"));
        let weight = listed.iter().find(|t| t.name == "0.weight").unwrap();
        assert_eq!(weight.shape, vec![4, 3]);
        assert_eq!(weight.dtype, "F32");

        let mut restored = Small::zeroed();
        assert_eq!(import(&bytes, &mut restored), Ok(vec![]));
        assert_eq!(restored, model);
    }

    #[test]
    fn num_batches_tracked_ignored() {
        let model = numbered_model();
        let mut entries = entries(&model);
        entries.push((
            "1.num_batches_tracked".to_owned(),
            Dtype::I64,
            vec![],
            vec![0.0, 0.0],
        ));
        let bytes = file_of(&entries);

        let mut restored = Small::zeroed();
        assert_eq!(
            import(&bytes, &mut restored),
            Ok(vec!["1.num_batches_tracked".to_owned()])
        );
        assert_eq!(restored, model);
    }

    #[test]
    fn num_batches_tracked_needs_batch_norm() {
        let model = numbered_model();
        let mut entries = entries(&model);
        entries.push((
            "0.num_batches_tracked".to_owned(),
            Dtype::I64,
            vec![],
            vec![0.0, 0.0],
        ));
        let bytes = file_of(&entries);

        let mut restored = Small::zeroed();
        assert_eq!(
            import(&bytes, &mut restored),
            Err(ImportError::UnexpectedTensor {
                name: "0.num_batches_tracked".to_owned()
            })
        );
        assert_eq!(restored, Small::zeroed());
    }

    #[test]
    fn missing_tensor_rejected() {
        let model = numbered_model();
        let mut entries = entries(&model);
        entries.retain(|(name, ..)| name != "2.bias");
        let mut restored = Small::zeroed();
        assert_eq!(
            import(&file_of(&entries), &mut restored),
            Err(ImportError::MissingTensor {
                name: "2.bias".to_owned()
            })
        );
        assert_eq!(restored, Small::zeroed());
    }

    #[test]
    fn unexpected_tensor_rejected() {
        let model = numbered_model();
        let mut entries = entries(&model);
        entries.push(("3.weight".to_owned(), Dtype::F32, vec![1], vec![1.0]));
        let mut restored = Small::zeroed();
        let error = import(&file_of(&entries), &mut restored).unwrap_err();
        assert_eq!(
            error,
            ImportError::UnexpectedTensor {
                name: "3.weight".to_owned()
            }
        );
        assert_eq!(
            error.to_string(),
            "unexpected tensor 3.weight in the file: the model has no tensor of that name"
        );
        assert_eq!(restored, Small::zeroed());
    }

    #[test]
    fn shape_mismatch_rejected() {
        let model = numbered_model();
        let mut entries = entries(&model);
        // The transposed weight, as a Keras kernel would store it.
        entries[0].2 = vec![3, 4];
        let mut restored = Small::zeroed();
        let error = import(&file_of(&entries), &mut restored).unwrap_err();
        assert_eq!(
            error,
            ImportError::ShapeMismatch {
                name: "0.weight".to_owned(),
                expected: vec![4, 3],
                found: vec![3, 4],
            }
        );
        assert_eq!(
            error.to_string(),
            "tensor 0.weight has shape [3, 4] in the file, expected [4, 3]"
        );
        assert_eq!(restored, Small::zeroed());
    }

    #[test]
    fn wrong_dtype_rejected() {
        let model = numbered_model();
        let mut entries = entries(&model);
        // Eight F16 values take the bytes of four F32 values.
        entries[1].1 = Dtype::F16;
        entries[1].2 = vec![8];
        let mut restored = Small::zeroed();
        assert_eq!(
            import(&file_of(&entries), &mut restored),
            Err(ImportError::WrongDtype {
                name: "0.bias".to_owned(),
                found: "F16".to_owned(),
            })
        );
        assert_eq!(restored, Small::zeroed());
    }

    #[test]
    fn non_finite_rejected() {
        let model = numbered_model();
        let mut entries = entries(&model);
        entries[3].3[2] = f32::NAN;
        let mut restored = Small::zeroed();
        assert_eq!(
            import(&file_of(&entries), &mut restored),
            Err(ImportError::NonFinite {
                name: "1.bias".to_owned(),
                offset: 2,
            })
        );
        assert_eq!(restored, Small::zeroed());
    }

    #[test]
    fn invalid_file_rejected() {
        let mut restored = Small::zeroed();
        let result = import(b"not a safetensors file", &mut restored);
        assert!(
            matches!(result, Err(ImportError::InvalidFile(_))),
            "{result:?}"
        );
        assert!(matches!(list(b"GWCK"), Err(ImportError::InvalidFile(_))));
    }
}
