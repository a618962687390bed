//! The penguins demo on the committed data set.

use std::path::PathBuf;

use gradwell_host::penguins::{self, PenguinConfig};

fn data_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/penguins.csv")
}

#[test]
fn rows_with_missing_measurements_are_dropped() {
    let (penguins, report) = penguins::load(data_path()).unwrap();
    assert_eq!(report.rows, 344);
    assert_eq!(report.dropped, 2);
    assert_eq!(report.by_column, vec![("bill_length_mm".to_string(), 2)]);
    assert_eq!(penguins.len(), 342);
    // Eleven rows have no sex; two of them are the dropped ones.
    assert_eq!(penguins.iter().filter(|p| p.male.is_none()).count(), 9);

    let first = &penguins[0];
    assert_eq!(first.measurements, [39.1, 18.7, 181.0]);
    assert_eq!(first.species, 0);
    assert_eq!(first.male, Some(true));
    assert_eq!(first.body_mass_g, 3750.0);
    // Line 5 (Adelie, Torgersen, all NA) is dropped, so the fourth penguin is line 6.
    assert_eq!(penguins[3].measurements, [36.7, 19.3, 193.0]);
    assert_eq!(penguins[3].male, Some(false));
}

#[test]
fn demo_beats_baselines() {
    let report = penguins::train_penguins(&PenguinConfig {
        data: data_path(),
        ..PenguinConfig::default()
    })
    .unwrap();
    let summary = &report.summary;
    assert_eq!(summary.train_samples + summary.test_samples, 342);
    assert_eq!(summary.missing_sex, 9);
    assert!(
        summary.species_accuracy.model > 0.9,
        "{:?}",
        summary.species_accuracy
    );
    assert!(summary.species_accuracy.model > summary.species_accuracy.baseline);
    assert!(
        summary.sex_accuracy.model > summary.sex_accuracy.baseline,
        "{:?}",
        summary.sex_accuracy
    );
    assert!(
        summary.body_mass_rmse_g.model < 0.6 * summary.body_mass_rmse_g.baseline,
        "{:?}",
        summary.body_mass_rmse_g
    );
}
