//! Checkpoint files: atomic saving, loading, and the `inspect`, `export` and `import` commands.
//!
//! The format itself is [`gradwell::checkpoint`]. [`save_checkpoint`] writes a temporary file in
//! the target's folder, flushes it to disk with `fsync`, renames it over the target and then
//! flushes the folder. A rename within one file system replaces the file in one step, so a crash
//! or an error at any point leaves either the old checkpoint or the new one, never half a file.
//!
//! `gradwell export` and `gradwell import` convert between checkpoints and safetensors files
//! (see [`crate::safetensors`]) for [`weather::Model`], the model of the Seattle demo.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use gradwell::checkpoint::{self, Extras, ExtrasMut, Info, Scaling, ScalingMut};
use gradwell::{weather, Fingerprint, Standardizer, Zeroed};
use serde_json::json;

use crate::safetensors;

/// The checkpoint subcommands of `gradwell`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Prints a checkpoint's header (version, fingerprint, sections, CRC) or the tensor list
    /// of a safetensors file.
    Inspect {
        /// Checkpoint or safetensors file.
        file: PathBuf,
        /// Prints the summary as one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Converts a checkpoint of the weather model into another format.
    Export {
        /// Format of the output file.
        #[arg(long, value_enum, default_value_t = ExportFormat::Safetensors)]
        format: ExportFormat,
        /// Checkpoint to read.
        input: PathBuf,
        /// File to write; an existing file is replaced atomically.
        output: PathBuf,
        /// Prints what was written as one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Converts a safetensors file of the weather model's tensors into a checkpoint.
    Import {
        /// safetensors file with PyTorch `state_dict` names, such as `0.trunk.0.weight`.
        input: PathBuf,
        /// Checkpoint to write; an existing file is replaced atomically.
        output: PathBuf,
        /// Prints what was written as one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// Output format of `gradwell export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// safetensors with PyTorch `state_dict` names, loadable with `load_state_dict`.
    Safetensors,
}

/// Runs a checkpoint subcommand, printing its result on standard output.
///
/// # Errors
/// The command's error, whose `{:#}` form is one line naming the file.
pub fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Inspect { file, json } => {
            println!("{}", inspect(&file, json)?);
        }
        Command::Export {
            format: ExportFormat::Safetensors,
            input,
            output,
            json,
        } => {
            export_safetensors(&input, &output)?;
            if json {
                let summary = json!({
                    "command": "export",
                    "format": "safetensors",
                    "input": input.display().to_string(),
                    "output": output.display().to_string(),
                });
                println!("{summary}");
            } else {
                println!("exported {} to {}", input.display(), output.display());
            }
        }
        Command::Import {
            input,
            output,
            json,
        } => {
            let ignored = import_safetensors(&input, &output)?;
            if json {
                let summary = json!({
                    "command": "import",
                    "input": input.display().to_string(),
                    "output": output.display().to_string(),
                    "ignored": ignored,
                });
                println!("{summary}");
            } else {
                println!("imported {} into {}", input.display(), output.display());
                if !ignored.is_empty() {
                    println!("ignored batch-norm step counters: {}", ignored.join(", "));
                }
            }
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a failed save leaves the previous file unchanged.
///
/// A new file gets mode `0o644` on Unix, and a replaced file keeps its permissions.
///
/// # Errors
/// When the temporary file cannot be created, written, flushed or renamed; the message names
/// the path.
pub fn save_checkpoint(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    save_with(path, bytes, |file, bytes| file.write_all(bytes))
}

/// Reads the file at `path`.
///
/// # Errors
/// When the file cannot be read; the message names the path.
pub fn load_checkpoint(path: &Path) -> anyhow::Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("failed to read {}", path.display()))
}

/// Encodes `model` with `extras` and saves the checkpoint atomically at `path`.
///
/// # Errors
/// When a value is not finite (see [`checkpoint::encode`]) or the file cannot be saved.
pub fn save_model<M: gradwell::Layer>(
    path: &Path,
    model: &M,
    extras: &Extras,
) -> anyhow::Result<()> {
    let mut bytes = vec![0u8; extras.encoded_len::<M>()];
    checkpoint::encode(model, extras, &mut bytes)
        .with_context(|| format!("failed to encode the checkpoint for {}", path.display()))?;
    save_checkpoint(path, &bytes)
}

/// Returns a summary of the checkpoint or safetensors file at `path`, as text or as JSON.
///
/// # Errors
/// When the file cannot be read, or is neither a valid checkpoint nor a safetensors file.
pub fn inspect(path: &Path, as_json: bool) -> anyhow::Result<String> {
    let bytes = load_checkpoint(path)?;
    if bytes.starts_with(&checkpoint::MAGIC) {
        let info = checkpoint::inspect(&bytes)
            .with_context(|| format!("{} is invalid", path.display()))?;
        Ok(describe_checkpoint(path, &info, bytes.len(), as_json))
    } else {
        let tensors = safetensors::list(&bytes).with_context(|| {
            format!(
                "{} is neither a gradwell checkpoint (no GWCK magic bytes) nor a safetensors file",
                path.display()
            )
        })?;
        let weather_check = safetensors::import(&bytes, &mut weather::Model::zeroed());
        Ok(describe_safetensors(
            path,
            &tensors,
            bytes.len(),
            weather_check.err(),
            as_json,
        ))
    }
}

/// Metadata key of the input-scaling means in an exported safetensors file (a JSON array).
pub const INPUT_MEAN_KEY: &str = "gradwell.input_mean";
/// Metadata key of the input-scaling standard deviations (a JSON array).
pub const INPUT_STD_KEY: &str = "gradwell.input_std";

/// Converts the weather-model checkpoint at `input` to a safetensors file at `output`.
///
/// The parameters become tensors under their `state_dict` names. The input scaling, when the
/// checkpoint has it, goes into the file's `__metadata__` under [`INPUT_MEAN_KEY`] and
/// [`INPUT_STD_KEY`], so that [`import_safetensors`] restores it. The optimizer state and the
/// step count are not exported, because a `state_dict` has no place for them.
///
/// # Errors
/// When `input` is not a valid checkpoint of [`weather::Model`] or `output` cannot be saved;
/// `output` is then unchanged.
pub fn export_safetensors(input: &Path, output: &Path) -> anyhow::Result<()> {
    let bytes = load_checkpoint(input)?;
    let mut model = weather::Model::zeroed();
    let mut scaler = Standardizer::<{ weather::INPUTS }>::IDENTITY;
    let has_scaling = checkpoint::inspect(&bytes)
        .is_ok_and(|info| info.scaling_features == Some(weather::INPUTS));
    let mut extras = ExtrasMut::default();
    if has_scaling {
        extras.scaling = Some(ScalingMut::from_standardizer(&mut scaler));
    }
    checkpoint::decode(&bytes, &mut model, &mut extras).with_context(|| {
        format!(
            "failed to load {} as a checkpoint of the weather model",
            input.display()
        )
    })?;

    let metadata = has_scaling.then(|| {
        HashMap::from([
            (INPUT_MEAN_KEY.to_owned(), json!(scaler.mean).to_string()),
            (INPUT_STD_KEY.to_owned(), json!(scaler.std).to_string()),
        ])
    });
    let exported = safetensors::export_with_metadata(&model, metadata)
        .with_context(|| format!("failed to serialize {}", input.display()))?;
    save_checkpoint(output, &exported)
}

/// Reads the input scaling that [`export_safetensors`] stores in the metadata, if any.
fn imported_scaling(
    input: &Path,
    bytes: &[u8],
) -> anyhow::Result<Option<Standardizer<{ weather::INPUTS }>>> {
    let metadata = safetensors::metadata(bytes)
        .with_context(|| format!("failed to read the header of {}", input.display()))?;
    let (Some(mean), Some(std)) = (metadata.get(INPUT_MEAN_KEY), metadata.get(INPUT_STD_KEY))
    else {
        return Ok(None);
    };
    let parse = |key: &str, text: &str| -> anyhow::Result<[f32; weather::INPUTS]> {
        let values: Vec<f32> = serde_json::from_str(text).with_context(|| {
            format!(
                "{}: metadata {key} is not a JSON array of numbers",
                input.display()
            )
        })?;
        let count = values.len();
        values.try_into().map_err(|_| {
            anyhow::anyhow!(
                "{}: metadata {key} has {count} values, expected {}",
                input.display(),
                weather::INPUTS
            )
        })
    };
    let scaler = Standardizer {
        mean: parse(INPUT_MEAN_KEY, mean)?,
        std: parse(INPUT_STD_KEY, std)?,
    };
    if let Some(bad) = scaler.std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
        bail!(
            "{}: metadata {INPUT_STD_KEY}[{bad}] is {}, expected a positive finite number",
            input.display(),
            scaler.std[bad]
        );
    }
    Ok(Some(scaler))
}

/// Converts the safetensors file at `input` into a weather-model checkpoint at `output`.
///
/// The checkpoint contains the parameters, and the input scaling when the file's metadata has
/// it (as [`export_safetensors`] writes it), but no optimizer state or step count; an
/// existing `output` is replaced as a whole.
///
/// # Errors
/// When `input` is not a valid safetensors file of the weather model's tensors (see
/// [`safetensors::import`]) or `output` cannot be saved; `output` is then unchanged.
pub fn import_safetensors(input: &Path, output: &Path) -> anyhow::Result<Vec<String>> {
    let bytes = load_checkpoint(input)?;
    let mut model = weather::Model::zeroed();
    let ignored = safetensors::import(&bytes, &mut model).with_context(|| {
        format!(
            "failed to load {} as the weather model's tensors",
            input.display()
        )
    })?;
    let scaler = imported_scaling(input, &bytes)?;
    let extras = Extras {
        scaling: scaler.as_ref().map(Scaling::from_standardizer),
        ..Extras::default()
    };
    save_model(output, &model, &extras)?;
    Ok(ignored)
}

/// Saves `bytes` at `path` through a temporary file, with `write` filling the temporary file.
fn save_with(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut File, &[u8]) -> io::Result<()>,
) -> anyhow::Result<()> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if path.is_dir() {
        bail!("failed to save {}: it is a folder", path.display());
    }
    if !folder.is_dir() {
        bail!(
            "failed to save {}: folder {} does not exist",
            path.display(),
            folder.display()
        );
    }

    // The temporary file is deleted when it is dropped before the rename.
    let mut temporary = tempfile::Builder::new()
        .prefix(".gradwell-")
        .suffix(".tmp")
        .tempfile_in(folder)
        .with_context(|| {
            format!(
                "failed to save {}: cannot create a temporary file in {}",
                path.display(),
                folder.display()
            )
        })?;
    set_permissions(path, temporary.as_file())
        .with_context(|| format!("failed to save {}: cannot set permissions", path.display()))?;
    write(temporary.as_file_mut(), bytes)
        .with_context(|| format!("failed to write {}", path.display()))?;
    temporary
        .as_file()
        .sync_all()
        .with_context(|| format!("failed to flush {} to disk", path.display()))?;
    temporary
        .persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("failed to replace {}", path.display()))?;

    // Flushing the folder makes the rename itself survive a power loss.
    #[cfg(unix)]
    File::open(folder)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("failed to flush folder {} to disk", folder.display()))?;
    Ok(())
}

/// Gives `temporary` the permissions of the file at `path`, or `0o644` for a new file.
fn set_permissions(path: &Path, temporary: &File) -> io::Result<()> {
    let permissions = match fs::metadata(path) {
        Ok(metadata) => metadata.permissions(),
        Err(_) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::Permissions::from_mode(0o644)
            }
            #[cfg(not(unix))]
            {
                return Ok(());
            }
        }
    };
    temporary.set_permissions(permissions)
}

fn describe_checkpoint(path: &Path, info: &Info, file_len: usize, as_json: bool) -> String {
    let weather_fingerprint = Fingerprint::of::<weather::Model>();
    let matches_weather = info.fingerprint == weather_fingerprint;
    if as_json {
        let summary = json!({
            "path": path.display().to_string(),
            "format": "gradwell-checkpoint",
            "file_bytes": file_len,
            "checkpoint_bytes": info.len,
            "version": info.version,
            "fingerprint": format!("{:#018x}", info.fingerprint),
            "matches_weather_model": matches_weather,
            "parameters": info.parameters,
            "optimizer_state": info.optimizer_state,
            "step": info.step,
            "scaling_features": info.scaling_features,
            "crc32": format!("{:#010x}", info.crc),
            "crc_ok": true,
        });
        return summary.to_string();
    }

    let present = |value: Option<String>| value.unwrap_or_else(|| "absent".to_owned());
    let mut text = String::new();
    text += &format!("{}: gradwell checkpoint\n", path.display());
    text += &format!("  format version   {}\n", info.version);
    text += &format!(
        "  size             {} bytes{}\n",
        info.len,
        if file_len > info.len {
            format!(" ({} trailing bytes ignored)", file_len - info.len)
        } else {
            String::new()
        }
    );
    text += &format!(
        "  fingerprint      {:#018x} ({})\n",
        info.fingerprint,
        if matches_weather {
            "matches the weather model".to_owned()
        } else {
            format!("not the weather model, which is {weather_fingerprint:#018x}")
        }
    );
    text += &format!("  parameters       {} values\n", info.parameters);
    text += &format!(
        "  optimizer state  {}\n",
        present(info.optimizer_state.map(|n| format!("{n} values")))
    );
    text += &format!(
        "  step count       {}\n",
        present(info.step.map(|n| n.to_string()))
    );
    text += &format!(
        "  input scaling    {}\n",
        present(info.scaling_features.map(|n| format!("{n} features")))
    );
    text += &format!("  CRC-32           {:#010x} (ok)", info.crc);
    text
}

fn describe_safetensors(
    path: &Path,
    tensors: &[safetensors::TensorSummary],
    file_len: usize,
    weather_error: Option<safetensors::ImportError>,
    as_json: bool,
) -> String {
    let value_count = |shape: &[usize]| shape.iter().product::<usize>();
    if as_json {
        let list: Vec<_> = tensors
            .iter()
            .map(|t| json!({ "name": t.name, "dtype": t.dtype, "shape": t.shape }))
            .collect();
        let summary = json!({
            "path": path.display().to_string(),
            "format": "safetensors",
            "file_bytes": file_len,
            "tensors": list,
            "matches_weather_model": weather_error.is_none(),
            "weather_model_error": weather_error.map(|e| e.to_string()),
        });
        return summary.to_string();
    }

    let total: usize = tensors.iter().map(|t| value_count(&t.shape)).sum();
    let name_width = tensors.iter().map(|t| t.name.len()).max().unwrap_or(0);
    let mut text = format!(
        "{}: safetensors, {} tensors, {} values, {} bytes\n",
        path.display(),
        tensors.len(),
        total,
        file_len
    );
    for tensor in tensors {
        text += &format!(
            "  {:name_width$}  {:4}  {:?}\n",
            tensor.name, tensor.dtype, tensor.shape
        );
    }
    text += &match weather_error {
        None => "  loads into the weather model".to_owned(),
        Some(error) => format!("  does not load into the weather model: {error}"),
    };
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the names of the files in `folder`.
    fn file_names(folder: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(folder)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn save_replaces_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("model.gwck");
        save_checkpoint(&path, b"first").unwrap();
        save_checkpoint(&path, b"second").unwrap();
        assert_eq!(load_checkpoint(&path).unwrap(), b"second");
        assert_eq!(file_names(folder.path()), vec!["model.gwck"]);
    }

    #[cfg(unix)]
    #[test]
    fn new_file_is_readable() {
        use std::os::unix::fs::PermissionsExt;
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("model.gwck");
        save_checkpoint(&path, b"bytes").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn failed_write_keeps_old_file() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("model.gwck");
        save_checkpoint(&path, b"the previous checkpoint").unwrap();

        // A writer that fails halfway, as a full disk would.
        let error = save_with(&path, b"the new checkpoint", |file, bytes| {
            file.write_all(&bytes[..bytes.len() / 2])?;
            Err(io::Error::other("simulated write failure"))
        })
        .unwrap_err();

        let message = format!("{error:#}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("simulated write failure"), "{message}");
        assert_eq!(load_checkpoint(&path).unwrap(), b"the previous checkpoint");
        assert_eq!(file_names(folder.path()), vec!["model.gwck"]);
    }

    #[test]
    fn save_into_missing_folder_fails() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("missing").join("model.gwck");
        let message = format!("{:#}", save_checkpoint(&path, b"bytes").unwrap_err());
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.ends_with("missing does not exist"), "{message}");
    }

    #[test]
    fn load_missing_file_names_path() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("absent.gwck");
        let message = format!("{:#}", load_checkpoint(&path).unwrap_err());
        assert!(message.starts_with("failed to read "), "{message}");
        assert!(message.contains("absent.gwck"), "{message}");
    }
}
