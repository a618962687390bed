//! The Seattle demo on the committed data set: feature construction, scaling on the training
//! split only, and a full training run that must beat "tomorrow equals today".

use std::path::PathBuf;

use gradwell::Standardizer;
use gradwell_host::seattle::{self, DemoConfig};

fn data_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/seattle-weather.csv")
}

fn temp_folder(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("gradwell-seattle-{name}-{}", std::process::id()))
}

#[test]
fn first_rows_give_expected_samples() {
    let (days, report) = seattle::load_days(data_path()).unwrap();
    assert_eq!(report.rows, 1461);
    assert_eq!(report.dropped, 0);
    assert_eq!(days.len(), 1461);
    assert_eq!(
        (days[0].year, days[0].month, days[0].day_of_month),
        (2012, 1, 1)
    );
    assert_eq!(days[2].day.day_of_year, 3);

    let samples = seattle::samples(&days);
    assert_eq!(samples.len(), 1459);
    // 2012-01-01 (yesterday), 2012-01-02 (today) → 2012-01-03 (tomorrow, day 3).
    let first = &samples[0];
    assert_eq!(
        &first.inputs[..8],
        &[10.9, 10.6, 2.8, 4.5, 0.0, 12.8, 5.0, 4.7]
    );
    // sin and cos of 2π · 3 / 365.25, from Python's math module in f64.
    const ANGLE_TOLERANCE: f32 = 1e-6;
    assert!(
        (first.inputs[8] - 0.051_584_37).abs() < ANGLE_TOLERANCE,
        "{}",
        first.inputs[8]
    );
    assert!(
        (first.inputs[9] - 0.998_668_6).abs() < ANGLE_TOLERANCE,
        "{}",
        first.inputs[9]
    );
    assert_eq!(first.targets, [11.7, 7.2, 1.0]);
    assert_eq!(first.year, 2012);

    // 2012-01-02, 2012-01-03 → 2012-01-04: 20.3 mm of rain.
    let second = &samples[1];
    assert_eq!(
        &second.inputs[..8],
        &[0.8, 11.7, 7.2, 2.3, 10.9, 10.6, 2.8, 4.5]
    );
    assert!((second.inputs[8] - 0.068_755_41).abs() < ANGLE_TOLERANCE);
    assert_eq!(second.targets, [12.2, 5.6, 1.0]);
}

#[test]
fn split_by_tomorrows_year() {
    let (days, _) = seattle::load_days(data_path()).unwrap();
    let (train, test) = seattle::split(&seattle::samples(&days));
    // Tomorrow runs from 2012-01-03 to 2014-12-31 (366 + 365 + 365 − 2 days), then all of 2015.
    assert_eq!(train.len(), 1094);
    assert_eq!(test.len(), 365);
    assert!(train.iter().all(|s| s.year < 2015));
    assert!(test.iter().all(|s| s.year == 2015));
}

/// Writes daily records from 2014-11-01 to 2015-01-31 whose 2015 days are 100 °C warmer, so
/// statistics that saw any 2015 value would be far off.
fn write_shifted_csv() -> PathBuf {
    let folder = temp_folder("shifted");
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("weather.csv");
    let mut text = String::from("date,precipitation,temp_max,temp_min,wind,weather\n");
    let months = [(2014, 11, 30), (2014, 12, 31), (2015, 1, 31)];
    let mut i = 0;
    for (year, month, days) in months {
        for day in 1..=days {
            let shift = if year == 2015 { 100.0 } else { 0.0 };
            let temp_max = 10.0 + (i % 5) as f32 + shift;
            let temp_min = 2.0 + (i % 3) as f32 + shift;
            text.push_str(&format!(
                "{year}-{month:02}-{day:02},{}.0,{temp_max},{temp_min},3.0,sun\n",
                i % 2
            ));
            i += 1;
        }
    }
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn scalers_fit_training_split_only() {
    let path = write_shifted_csv();
    let config = DemoConfig {
        data: path.clone(),
        epochs: 1,
        ..DemoConfig::default()
    };
    let report = seattle::train_seattle(&config).unwrap();

    let (days, _) = seattle::load_days(&path).unwrap();
    let (train, test) = seattle::split(&seattle::samples(&days));
    assert_eq!(train.len(), 59);
    assert_eq!(test.len(), 31);
    let (inputs, targets) = seattle::fit_scalers(&train);
    assert_eq!(report.trained.input_scaler, inputs);
    assert_eq!(report.trained.target_scaler, targets);

    // Today's temp_max over the training inputs cycles 10..=14, so its mean is near 12;
    // one 2015 value (110 °C or more) in 60 would raise it above 13.6.
    let mean_of =
        |values: Vec<f32>| values.iter().map(|&v| f64::from(v)).sum::<f64>() / values.len() as f64;
    const MEAN_TOLERANCE: f64 = 1e-5;
    let expected = mean_of(train.iter().map(|s| s.inputs[1]).collect());
    assert!((f64::from(inputs.mean[1]) - expected).abs() < MEAN_TOLERANCE);
    assert!((11.0..13.0).contains(&inputs.mean[1]), "{}", inputs.mean[1]);
    let expected = mean_of(train.iter().map(|s| s.targets[0]).collect());
    assert!((f64::from(targets.mean[0]) - expected).abs() < MEAN_TOLERANCE);
    assert!(
        (11.0..13.0).contains(&targets.mean[0]),
        "{}",
        targets.mean[0]
    );

    let everything: Vec<[f32; 10]> = train.iter().chain(&test).map(|s| s.inputs).collect();
    assert_ne!(Standardizer::fit(everything.iter()), inputs);
    std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
}

#[test]
fn demo_beats_persistence_on_both_temperatures() {
    let out = temp_folder("demo");
    let config = DemoConfig {
        data: data_path(),
        out: Some(out.clone()),
        ..DemoConfig::default()
    };
    assert_eq!(config.epochs, 20);
    let report = seattle::train_seattle(&config).unwrap();
    let summary = &report.summary;

    assert_eq!(summary.train_samples, 1094);
    assert_eq!(summary.test_samples, 365);
    for (name, r) in [
        ("temp_max", summary.temp_max),
        ("temp_min", summary.temp_min),
    ] {
        assert!(
            r.multi_task < r.persistence,
            "{name}: model {} vs persistence {}",
            r.multi_task,
            r.persistence
        );
        assert!(
            r.single_task < r.persistence,
            "{name}: single-task {}",
            r.single_task
        );
    }
    // "Tomorrow equals today" on 2015, as data/README.md reports it.
    const PERSISTENCE_TOLERANCE: f64 = 0.005;
    assert!((summary.temp_max.persistence - 2.91).abs() < PERSISTENCE_TOLERANCE);
    assert!((summary.temp_min.persistence - 1.96).abs() < PERSISTENCE_TOLERANCE);

    let rain = summary.rain.multi_task;
    assert!(
        rain.accuracy > summary.rain.persistence.accuracy,
        "{rain:?}"
    );
    assert!((0.0..=1.0).contains(&rain.f1), "{rain:?}");

    // 1094 samples make 34 full batches of 32; the last 6 of each epoch are left out.
    assert_eq!(summary.training.steps, 20 * 34);
    assert_eq!(summary.training.samples, 20 * 34 * 32);
    assert!(summary.training.samples_per_second > 0.0);
    assert_eq!(summary.loss_curves.train.len(), 20);
    assert_eq!(summary.loss_curves.test[19].len(), 3);
    let first = &summary.loss_curves.train[0];
    let last = &summary.loss_curves.train[19];
    for task in 0..3 {
        assert!(
            last[task] < first[task],
            "task {task}: {first:?} → {last:?}"
        );
    }

    assert_eq!(summary.plots.len(), 2);
    let svg = std::fs::read_to_string(out.join("loss.svg")).unwrap();
    assert!(svg.contains("temp_min"));
    assert!(std::fs::metadata(out.join("loss.png")).unwrap().len() > 1000);

    // The checkpoint contains the trained model and the input scaling it needs.
    let bytes = std::fs::read(out.join(seattle::CHECKPOINT_FILE)).unwrap();
    let mut model: gradwell::weather::Model = gradwell::Zeroed::zeroed();
    let mut scaler = gradwell::Standardizer::<{ gradwell::weather::INPUTS }>::IDENTITY;
    let mut extras = gradwell::checkpoint::ExtrasMut {
        scaling: Some(gradwell::checkpoint::ScalingMut::from_standardizer(
            &mut scaler,
        )),
        ..Default::default()
    };
    gradwell::checkpoint::decode(&bytes, &mut model, &mut extras).unwrap();
    assert_eq!(model, report.trained.model);
    assert_eq!(scaler, report.trained.input_scaler);
    assert_eq!(
        summary.checkpoint.as_deref(),
        Some(
            out.join(seattle::CHECKPOINT_FILE)
                .display()
                .to_string()
                .as_str()
        )
    );
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn json_carries_printed_figures() {
    let out = temp_folder("json");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gradwell"))
        .args(["demo", "seattle", "--epochs", "2", "--json", "--data"])
        .arg(data_path())
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["epochs"], 2);
    assert_eq!(json["test_samples"], 365);
    for task in ["temp_max", "temp_min"] {
        for key in ["multi_task", "single_task", "persistence"] {
            assert!(json[task][key].as_f64().unwrap() > 0.0, "{task}.{key}");
        }
    }
    for key in ["multi_task", "single_task", "persistence"] {
        assert!(json["rain"][key]["accuracy"].as_f64().unwrap() > 0.5);
        assert!(json["rain"][key]["f1"].as_f64().is_some());
    }
    assert!(json["training"]["samples_per_second"].as_f64().unwrap() > 0.0);
    assert_eq!(json["loss_curves"]["test"].as_array().unwrap().len(), 2);
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn date_gaps_are_counted() {
    // Row 5 (2012-01-04) repeated after 2012-01-19: two places where a date does not follow.
    let text = std::fs::read_to_string(data_path()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut rows = lines[..20].to_vec();
    rows.push(lines[4]);
    rows.extend_from_slice(&lines[20..]);
    let folder = temp_folder("gaps");
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("gaps.csv");
    std::fs::write(&path, rows.join("\n")).unwrap();

    let config = DemoConfig {
        data: path,
        epochs: 1,
        out: None,
        ..DemoConfig::default()
    };
    let summary = seattle::train_seattle(&config).unwrap().summary;
    assert_eq!(summary.date_gaps, 2);
    // The duplicate breaks the runs spanning it: 1094 − 2 training samples.
    assert_eq!(summary.train_samples, 1092);
    assert!(summary
        .to_string()
        .contains("2 places where a date does not follow"));
    std::fs::remove_dir_all(&folder).unwrap();
}
