//! Weight interchange with PyTorch: the weather model from `tests/golden/safetensors`, written
//! by `generate.py` with torch, loads into `gradwell::weather::Model`, computes PyTorch's
//! outputs, and exports back to the same tensors.

use std::path::PathBuf;

use gradwell::{weather, Layer, Zeroed};
use gradwell_host::safetensors;
use serde_json::Value;

/// Largest accepted difference between gradwell's and PyTorch's outputs, as
/// `ABSOLUTE + RELATIVE · |expected|`. Both compute in float32, but gradwell's dot products
/// add in another order than PyTorch's matrix multiply, so the last bits may differ: the
/// largest difference measured on the golden rows is 2.4e-7, or 3.8e-7 relative.
const OUTPUT_ABSOLUTE_TOLERANCE: f32 = 1e-7;
const OUTPUT_RELATIVE_TOLERANCE: f32 = 2e-6;

const ROWS: usize = 4;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden/safetensors")
        .join(name)
}

fn expected() -> Value {
    let text = std::fs::read_to_string(golden("weather_model_expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Reads a JSON number written as the exact double of a float32.
fn float32(value: &Value) -> f32 {
    let wide = value.as_f64().unwrap();
    let narrow = wide as f32;
    assert_eq!(f64::from(narrow), wide, "{wide} is not a float32 value");
    narrow
}

fn imported_model() -> weather::Model {
    let bytes = std::fs::read(golden("weather_model.safetensors")).unwrap();
    let mut model = weather::Model::zeroed();
    let ignored = safetensors::import(&bytes, &mut model).unwrap();
    assert!(ignored.is_empty(), "ignored tensors: {ignored:?}");
    model
}

#[test]
fn pytorch_parameters_exact() {
    let model = imported_model();
    let expected = expected();
    let checks = expected["parameters"].as_array().unwrap();
    assert_eq!(checks.len(), 8);

    for check in checks {
        let name = check["name"].as_str().unwrap();
        let index = check["index"].as_u64().unwrap() as usize;
        let value = float32(&check["value"]);
        let mut found = None;
        model.visit_tensors("", 0, &mut |info, values| {
            if info.name == name {
                found = Some(values[index]);
            }
        });
        let found = found.unwrap_or_else(|| panic!("model has no tensor {name}"));
        assert_eq!(found.to_bits(), value.to_bits(), "{name}[{index}]");
    }
}

#[test]
fn pytorch_outputs_match() {
    let model = imported_model();
    let expected = expected();
    let inputs = expected["inputs"].as_array().unwrap();
    let outputs = expected["outputs"].as_array().unwrap();
    assert_eq!(inputs.len(), ROWS);
    assert_eq!(outputs.len(), ROWS);

    let x: [[f32; weather::INPUTS]; ROWS] = core::array::from_fn(|row| {
        let values = inputs[row].as_array().unwrap();
        assert_eq!(values.len(), weather::INPUTS);
        core::array::from_fn(|i| float32(&values[i]))
    });
    let mut y: [<weather::Model as Layer>::Output; ROWS] = Zeroed::zeroed();
    model.forward(&x, &mut y);

    for (row, (predicted, expected_row)) in y.iter().zip(outputs).enumerate() {
        let predicted = [predicted.0[0], predicted.1[0], predicted.2[0]];
        let expected_row = expected_row.as_array().unwrap();
        assert_eq!(expected_row.len(), 3);
        for (head, (&got, want)) in predicted.iter().zip(expected_row).enumerate() {
            let want = float32(want);
            let tolerance = OUTPUT_ABSOLUTE_TOLERANCE + OUTPUT_RELATIVE_TOLERANCE * want.abs();
            assert!(
                (got - want).abs() <= tolerance,
                "row {row}, head {head}: gradwell {got}, PyTorch {want}, tolerance {tolerance}"
            );
        }
    }
}

#[test]
fn reexport_same_tensors() {
    let original = std::fs::read(golden("weather_model.safetensors")).unwrap();
    let exported = safetensors::export(&imported_model()).unwrap();

    let before = ::safetensors::SafeTensors::deserialize(&original).unwrap();
    let after = ::safetensors::SafeTensors::deserialize(&exported).unwrap();
    let mut names = before.names();
    names.sort_unstable();
    let mut exported_names = after.names();
    exported_names.sort_unstable();
    assert_eq!(exported_names, names);
    assert_eq!(names.len(), 10);

    for name in names {
        let (a, b) = (before.tensor(name).unwrap(), after.tensor(name).unwrap());
        assert_eq!(b.dtype(), a.dtype(), "{name}");
        assert_eq!(b.shape(), a.shape(), "{name}");
        assert_eq!(b.data(), a.data(), "{name}");
    }

    // Both writers sort the tensors and pad the header the same way (the safetensors 0.8.0
    // crate here and the Python package 0.8.0 that ran generate.py), so the files are equal.
    assert_eq!(exported.len(), original.len());
    assert!(
        exported == original,
        "re-exported file differs from the golden file"
    );
}

#[test]
fn round_trip_keeps_input_scaling() {
    use gradwell::checkpoint::{Extras, Scaling};
    use gradwell_host::checkpoint::{export_safetensors, import_safetensors, save_model};

    let folder = tempfile::tempdir().unwrap();
    let model: weather::Model = gradwell::build(gradwell::Init::PyTorch, 9);
    let scaler = gradwell::Standardizer::<{ weather::INPUTS }> {
        mean: core::array::from_fn(|i| i as f32 * 0.5 - 1.0),
        std: core::array::from_fn(|i| 0.1 + i as f32),
    };
    let original = folder.path().join("model.gwck");
    let extras = Extras {
        scaling: Some(Scaling::from_standardizer(&scaler)),
        ..Extras::default()
    };
    save_model(&original, &model, &extras).unwrap();

    let exported = folder.path().join("model.safetensors");
    export_safetensors(&original, &exported).unwrap();
    let metadata = safetensors::metadata(&std::fs::read(&exported).unwrap()).unwrap();
    assert!(metadata.contains_key(gradwell_host::checkpoint::INPUT_MEAN_KEY));
    assert!(metadata.contains_key(gradwell_host::checkpoint::INPUT_STD_KEY));

    let back = folder.path().join("back.gwck");
    import_safetensors(&exported, &back).unwrap();
    assert_eq!(
        std::fs::read(&back).unwrap(),
        std::fs::read(&original).unwrap()
    );
}
