//! `gradwell inspect`, `export` and `import` on good and bad files: every failure is one line
//! on standard error with a non-zero exit status, and leaves the output file as it was.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gradwell::checkpoint::{self, Extras};
use gradwell::{build, seq, weather, Dense, Init, Relu, Zeroed};

const GRADWELL: &str = env!("CARGO_BIN_EXE_gradwell");

/// A model of another structure than `weather::Model`.
type OtherModel = seq![Dense<10, 8, Relu>, Dense<8, 3>];

fn golden_weights() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden/safetensors/weather_model.safetensors")
}

fn gradwell(args: &[&Path]) -> Output {
    Command::new(GRADWELL).args(args).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Returns the single line of standard error, after checking the command failed.
fn single_error_line(output: &Output) -> String {
    let stderr = String::from_utf8(output.stderr.clone()).unwrap();
    assert!(!output.status.success(), "command succeeded: {stderr}");
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one line on standard error: {stderr}"
    );
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

/// Imports the golden weights into a checkpoint at `path`.
fn import_golden(path: &Path) {
    let output = gradwell(&[Path::new("import"), &golden_weights(), path]);
    assert!(output.status.success(), "{output:?}");
}

fn file_names(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn inspect_safetensors_lists_tensors() {
    let output = gradwell(&[Path::new("inspect"), &golden_weights()]);
    assert!(output.status.success(), "{output:?}");
    let text = stdout(&output);
    assert!(
        text.contains("safetensors, 10 tensors, 2883 values"),
        "{text}"
    );
    assert!(text.contains("0.trunk.0.weight"), "{text}");
    assert!(text.contains("[64, 10]"), "{text}");
    assert!(text.contains("loads into the weather model"), "{text}");
}

#[test]
fn import_inspect_export_round_trip() {
    let folder = tempfile::tempdir().unwrap();
    let model_path = folder.path().join("model.gwck");
    let exported_path = folder.path().join("model.safetensors");
    import_golden(&model_path);

    let output = gradwell(&[Path::new("inspect"), Path::new("--json"), &model_path]);
    assert!(output.status.success(), "{output:?}");
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary["format"], "gradwell-checkpoint");
    assert_eq!(summary["version"], 1);
    assert_eq!(summary["matches_weather_model"], true);
    assert_eq!(summary["parameters"], 2883);
    assert_eq!(summary["checkpoint_bytes"], 11_568);
    assert_eq!(summary["optimizer_state"], serde_json::Value::Null);
    assert_eq!(summary["crc_ok"], true);

    let output = gradwell(&[
        Path::new("export"),
        Path::new("--format"),
        Path::new("safetensors"),
        &model_path,
        &exported_path,
    ]);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        fs::read(&exported_path).unwrap(),
        fs::read(golden_weights()).unwrap()
    );
}

#[test]
fn truncated_checkpoint_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let model_path = folder.path().join("model.gwck");
    import_golden(&model_path);
    let bytes = fs::read(&model_path).unwrap();
    let truncated_path = folder.path().join("truncated.gwck");
    fs::write(&truncated_path, &bytes[..bytes.len() - 100]).unwrap();

    let line = single_error_line(&gradwell(&[Path::new("inspect"), &truncated_path]));
    assert!(line.contains("truncated.gwck"), "{line}");
    assert!(
        line.contains("checkpoint is truncated: it needs 11568 bytes but only 11468 are available"),
        "{line}"
    );

    let out_path = folder.path().join("out.safetensors");
    let line = single_error_line(&gradwell(&[
        Path::new("export"),
        &truncated_path,
        &out_path,
    ]));
    assert!(line.contains("truncated"), "{line}");
    assert!(!out_path.exists());
}

#[test]
fn corrupted_byte_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let model_path = folder.path().join("model.gwck");
    import_golden(&model_path);
    let mut bytes = fs::read(&model_path).unwrap();
    bytes[5000] ^= 0x40;
    fs::write(&model_path, &bytes).unwrap();

    let line = single_error_line(&gradwell(&[Path::new("inspect"), &model_path]));
    assert!(line.contains("model.gwck"), "{line}");
    assert!(
        line.contains("checkpoint is corrupted: stored CRC-32"),
        "{line}"
    );

    let out_path = folder.path().join("out.safetensors");
    let line = single_error_line(&gradwell(&[Path::new("export"), &model_path, &out_path]));
    assert!(line.contains("corrupted"), "{line}");
}

#[test]
fn wrong_model_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let other: OtherModel = build(Init::PyTorch, 1);
    let mut bytes = vec![0u8; checkpoint::encoded_len::<OtherModel>(0, 0)];
    checkpoint::encode(&other, &Extras::default(), &mut bytes).unwrap();
    let other_path = folder.path().join("other.gwck");
    fs::write(&other_path, &bytes).unwrap();

    // Inspecting succeeds and reports that it is not the weather model.
    let output = gradwell(&[Path::new("inspect"), &other_path]);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout(&output).contains("not the weather model"));

    let out_path = folder.path().join("out.safetensors");
    let line = single_error_line(&gradwell(&[Path::new("export"), &other_path, &out_path]));
    assert!(line.contains("other.gwck"), "{line}");
    assert!(
        line.contains("checkpoint was saved from another model structure"),
        "{line}"
    );
}

#[test]
fn not_a_model_file_rejected() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("notes.txt");
    fs::write(&path, "plain text, not weights").unwrap();
    let line = single_error_line(&gradwell(&[Path::new("inspect"), &path]));
    assert!(
        line.contains(
            "is neither a gradwell checkpoint (no GWCK magic bytes) nor a safetensors file"
        ),
        "{line}"
    );

    let line = single_error_line(&gradwell(&[
        Path::new("inspect"),
        &folder.path().join("absent.gwck"),
    ]));
    assert!(line.starts_with("error: failed to read "), "{line}");
}

#[test]
fn failed_import_keeps_previous_checkpoint() {
    let folder = tempfile::tempdir().unwrap();
    let model_path = folder.path().join("model.gwck");
    import_golden(&model_path);
    let previous = fs::read(&model_path).unwrap();

    // Weights of another architecture: the first head's weight has the wrong shape.
    let other: OtherModel = build(Init::PyTorch, 2);
    let other_weights = folder.path().join("other.safetensors");
    fs::write(
        &other_weights,
        gradwell_host::safetensors::export(&other).unwrap(),
    )
    .unwrap();

    let line = single_error_line(&gradwell(&[
        Path::new("import"),
        &other_weights,
        &model_path,
    ]));
    assert!(line.contains("other.safetensors"), "{line}");
    assert!(
        line.contains("tensor 0.trunk.0.weight is missing from the file"),
        "{line}"
    );
    assert_eq!(fs::read(&model_path).unwrap(), previous);
}

/// Runs `gradwell` with a file-size limit of 4 KiB and `SIGXFSZ` ignored, so that writing a
/// larger file fails part-way with `EFBIG` ("File too large"), as a full disk would.
#[cfg(unix)]
fn gradwell_with_small_file_limit(args: &[&Path]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 8; exec \"$0\" \"$@\"")
        .arg(GRADWELL)
        .args(args)
        .output()
        .unwrap()
}

#[cfg(unix)]
#[test]
fn interrupted_import_keeps_previous_checkpoint() {
    let folder = tempfile::tempdir().unwrap();
    let model_path = folder.path().join("model.gwck");
    import_golden(&model_path);
    let previous = fs::read(&model_path).unwrap();
    assert_eq!(previous.len(), 11_568);

    let line = single_error_line(&gradwell_with_small_file_limit(&[
        Path::new("import"),
        &golden_weights(),
        &model_path,
    ]));
    assert!(line.contains("failed to write"), "{line}");
    assert!(line.contains("model.gwck"), "{line}");
    assert!(line.contains("File too large"), "{line}");

    // The previous checkpoint is intact and loads, and no temporary file is left behind.
    assert_eq!(fs::read(&model_path).unwrap(), previous);
    let mut model = weather::Model::zeroed();
    checkpoint::decode(&previous, &mut model, &mut Default::default()).unwrap();
    assert_eq!(file_names(folder.path()), vec!["model.gwck"]);
}

#[cfg(unix)]
#[test]
fn interrupted_export_keeps_previous_file() {
    let folder = tempfile::tempdir().unwrap();
    let model_path = folder.path().join("model.gwck");
    import_golden(&model_path);
    let exported_path = folder.path().join("model.safetensors");
    fs::write(&exported_path, b"previous export").unwrap();

    let line = single_error_line(&gradwell_with_small_file_limit(&[
        Path::new("export"),
        &model_path,
        &exported_path,
    ]));
    assert!(line.contains("File too large"), "{line}");
    assert_eq!(fs::read(&exported_path).unwrap(), b"previous export");
    assert_eq!(
        file_names(folder.path()),
        vec!["model.gwck", "model.safetensors"]
    );
}

#[test]
fn export_and_import_print_json() {
    let folder = tempfile::tempdir().unwrap();
    let checkpoint = folder.path().join("model.gwck");
    import_golden(&checkpoint);
    let exported = folder.path().join("model.safetensors");
    let json = Path::new("--json");

    let output = gradwell(&[Path::new("export"), &checkpoint, &exported, json]);
    assert!(output.status.success(), "{}", stdout(&output));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary["command"], "export");
    assert_eq!(summary["output"], exported.display().to_string());

    let back = folder.path().join("back.gwck");
    let output = gradwell(&[Path::new("import"), &exported, &back, json]);
    assert!(output.status.success(), "{}", stdout(&output));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(summary["command"], "import");
    assert_eq!(summary["ignored"], serde_json::json!([]));
}
