//! The gradient-flow study on a tiny configuration, and its ratio and spread arithmetic.

use gradwell::loss::Mse;
use gradwell::objective::{Objective, Task};
use gradwell_host::study::{
    configurations, first_to_last_ratio, run_gradient_flow_study, Nested, Spread, StudyConfig,
    WeatherData,
};

/// Two-sided tolerance for ratios of literal `f32` values.
const RATIO_TOLERANCE: f32 = 1e-6;
/// Two-sided tolerance for means and variances of `f32` z-scores, and for undoing a z-score.
const Z_SCORE_TOLERANCE: f64 = 1e-4;

fn tiny_config() -> StudyConfig {
    StudyConfig {
        seeds: 1,
        steps: 12,
        depths: vec![4],
        threads: 2,
        ..StudyConfig::default()
    }
}

#[test]
fn tiny_study_runs_every_configuration() {
    let report = run_gradient_flow_study(&tiny_config()).expect("study runs");

    assert_eq!(report.configurations.len(), configurations(&[4]).len());
    assert_eq!(report.configurations.len(), 16);
    for summary in &report.configurations {
        let name = format!(
            "{} {}",
            summary.configuration.activation_name(),
            summary.configuration.family_name()
        );
        assert_eq!(summary.runs.len(), 1, "{name}");
        let run = &summary.runs[0];
        assert_eq!(run.accepted_steps + run.rejected_steps, 12, "{name}");
        assert!(
            run.test_rmse.is_finite(),
            "{name}: test RMSE {}",
            run.test_rmse
        );
        assert_eq!(summary.loss_curve.len(), 12, "{name}: one point per step");

        assert_eq!(
            run.init_norms.len(),
            4,
            "{name}: one norm per trunk dense layer"
        );
        assert!(
            run.init_norms.iter().all(|n| n.is_finite() && *n > 0.0),
            "{name}: init norms {:?}",
            run.init_norms
        );
        assert_eq!(run.training_norms.len(), 4, "{name}");
        if run.rejected_steps == 0 {
            assert!(
                run.training_norms.iter().all(|n| n.is_finite() && *n > 0.0),
                "{name}: training norms {:?}",
                run.training_norms
            );
        }
        let expected = first_to_last_ratio(&run.init_norms).expect("finite norms");
        assert_eq!(summary.init_ratio.median, expected, "{name}");
    }
}

#[test]
fn weather_split_by_predicted_year() {
    let data = WeatherData::load(&StudyConfig::default().data).expect("data loads");

    // 2012–2014 has 1096 days, less the first two, which have no yesterday; 2015 has 365.
    assert_eq!(data.train.len(), 1094);
    assert_eq!(data.test.len(), 365);

    let count = data.train.len() as f64;
    for target in 0..2 {
        let mean = data
            .train
            .iter()
            .map(|s| f64::from(s.temperatures[target]))
            .sum::<f64>()
            / count;
        let variance = data
            .train
            .iter()
            .map(|s| (f64::from(s.temperatures[target]) - mean).powi(2))
            .sum::<f64>()
            / count;
        assert!(
            mean.abs() <= Z_SCORE_TOLERANCE,
            "target {target}: mean {mean}"
        );
        assert!(
            (variance - 1.0).abs() <= Z_SCORE_TOLERANCE,
            "target {target}: variance {variance}"
        );
    }

    let first = &data.train[0];
    let mut celsius = first.temperatures;
    data.temperature_scaler.invert(&mut celsius);
    // 2012-01-03: temp_max 11.7 °C, temp_min 7.2 °C.
    assert_eq!(first.temperatures_celsius, [11.7, 7.2]);
    assert!((celsius[0] - 11.7).abs() <= Z_SCORE_TOLERANCE as f32);
    assert!((celsius[1] - 7.2).abs() <= Z_SCORE_TOLERANCE as f32);
}

#[test]
fn nested_objective_lays_out_tasks_in_order() {
    let objective = Nested(Task::new(Mse), Task::new(Mse).weighted(0.5));
    let y = [([1.0f32], [2.0f32])];
    let targets = [([0.0f32], [0.0f32])];
    let mut dy = [([0.0f32], [0.0f32])];
    let mut losses = [0.0f32; 2];
    let mut weights = [0.0f32; 2];

    Objective::<([f32; 1], [f32; 1])>::weights(&objective, &mut weights);
    objective.evaluate(&y, &targets, &[1.0, 0.5], &mut dy, &mut losses);

    assert_eq!(weights, [1.0, 0.5]);
    assert_eq!(losses, [1.0, 4.0]);
    // Squared error: dJ/dy = 2 (y − t), times each task's scale.
    assert_eq!(dy[0].0, [2.0]);
    assert_eq!(dy[0].1, [2.0]);

    let invalid = [([0.0f32], [f32::INFINITY])];
    let found = objective.invalid_target(&invalid).expect("invalid target");
    assert_eq!((found.sample, found.task, found.index), (0, 1, 0));
}

#[test]
fn ratio_of_literal_norms() {
    let ratio = first_to_last_ratio(&[0.5, 3.0, 2.0]).expect("valid norms");
    assert!((ratio - 0.25).abs() <= RATIO_TOLERANCE, "ratio {ratio}");

    let ratio = first_to_last_ratio(&[40.0, 1.0, 4.0]).expect("valid norms");
    assert!(
        (ratio - 10.0).abs() <= RATIO_TOLERANCE * 10.0,
        "ratio {ratio}"
    );
}

#[test]
fn ratio_rejects_degenerate_norms() {
    assert_eq!(first_to_last_ratio(&[]), None);
    assert_eq!(first_to_last_ratio(&[1.0]), None);
    assert_eq!(first_to_last_ratio(&[1.0, 0.0]), None);
    assert_eq!(first_to_last_ratio(&[f32::NAN, 1.0]), None);
    assert_eq!(first_to_last_ratio(&[1.0, f32::INFINITY]), None);
}

#[test]
fn spread_of_seeds_skips_nan() {
    let spread = Spread::of([3.0, f32::NAN, 1.0, 2.0, 10.0]);
    assert_eq!(spread.count, 4);
    assert_eq!(spread.median, 2.5);
    assert_eq!(spread.min, 1.0);
    assert_eq!(spread.max, 10.0);

    let odd = Spread::of([5.0, 1.0, 3.0]);
    assert_eq!(odd.median, 3.0);

    let empty = Spread::of([f32::NAN]);
    assert_eq!(empty.count, 0);
    assert!(empty.median.is_nan());
}

#[test]
fn cli_prints_json_figures() {
    let folder = std::env::temp_dir().join(format!("gradwell-study-json-{}", std::process::id()));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_gradwell"))
        .args([
            "study",
            "gradient-flow",
            "--seeds",
            "1",
            "--steps",
            "4",
            "--json",
            "--out",
        ])
        .arg(&folder)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["seeds"], 1);
    assert_eq!(summary["steps"], 4);
    let configurations = summary["configurations"].as_array().unwrap();
    assert!(!configurations.is_empty());
    assert!(configurations[0]["init_ratio"]["median"].is_number());
    std::fs::remove_dir_all(&folder).unwrap();
}
