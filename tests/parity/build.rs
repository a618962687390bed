//! Turns the PyTorch layer golden file `tests/golden/layers/layers.json` into Rust constants in
//! `OUT_DIR/golden_layers.rs`, so that a device without a file system can run the same checks
//! as `tests/tests/pytorch_layers.rs`.
//!
//! Each number is read as an `f64` and cast to `f32`, as the host test does, and written as its
//! bit pattern, so the device checks exactly the host test's values.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::{env, fs};

use serde_json::Value;

const GOLDEN: &str = "../golden/layers/layers.json";

fn main() {
    println!("cargo:rerun-if-changed={GOLDEN}");
    println!("cargo:rerun-if-changed=build.rs");

    let text = fs::read_to_string(GOLDEN).unwrap_or_else(|e| {
        panic!("failed to read {GOLDEN}: {e}. Regenerate it with `python3 tests/golden/layers/generate.py`")
    });
    let golden: Value = serde_json::from_str(&text).expect("layers.json is invalid JSON");

    let mut out = String::new();
    let torch = golden["torch_version"].as_str().expect("torch_version");
    writeln!(
        out,
        "/// The torch version that computed the golden values."
    )
    .unwrap();
    writeln!(out, "pub const TORCH_VERSION: &str = {torch:?};").unwrap();
    writeln!(out, "/// Every case of the golden file, in its order.").unwrap();
    writeln!(out, "pub static DATA: &[GoldenCase] = &[").unwrap();
    for case in golden["cases"].as_array().expect("cases") {
        write_case(&mut out, case);
    }
    writeln!(out, "];").unwrap();

    let path = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(path.join("golden_layers.rs"), out).expect("write golden_layers.rs");
}

fn write_case(out: &mut String, case: &Value) {
    let name = case["name"].as_str().expect("case name");
    let mode = match case["mode"].as_str().expect("mode") {
        "train" => "Mode::Train",
        "eval" => "Mode::Eval",
        other => panic!("{name}: invalid mode {other:?}, expected \"train\" or \"eval\""),
    };
    writeln!(out, "GoldenCase {{").unwrap();
    writeln!(out, "name: {name:?},").unwrap();
    writeln!(out, "batch: {},", case["batch"].as_u64().expect("batch")).unwrap();
    writeln!(out, "mode: {mode},").unwrap();
    for field in ["x", "dy", "y", "dx"] {
        writeln!(out, "{field}: {},", values(&case[field])).unwrap();
    }
    for field in ["parameters", "grads", "buffers_after"] {
        writeln!(out, "{field}: &[").unwrap();
        for (tensor, value) in case[field].as_object().expect("tensor map") {
            writeln!(
                out,
                "NamedTensor {{ name: {tensor:?}, values: {} }},",
                values(value)
            )
            .unwrap();
        }
        writeln!(out, "],").unwrap();
    }
    writeln!(out, "}},").unwrap();
}

/// Returns the numbers of a nested JSON array in row-major order as a Rust slice expression.
fn values(value: &Value) -> String {
    let mut numbers = Vec::new();
    flatten(value, &mut numbers);
    let items: Vec<String> = numbers
        .iter()
        .map(|&v| format!("f32::from_bits({:#010x})", v.to_bits()))
        .collect();
    format!("&[{}]", items.join(", "))
}

fn flatten(value: &Value, numbers: &mut Vec<f32>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, numbers)),
        Value::Number(number) => {
            numbers.push(number.as_f64().expect("golden number does not fit an f64") as f32)
        }
        other => panic!("golden array contains {other}, expected only numbers"),
    }
}
