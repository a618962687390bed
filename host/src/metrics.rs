//! Test metrics: root mean squared error, accuracy and F1, computed in `f64`.
//!
//! - RMSE `= sqrt(Σ (ŷᵢ − yᵢ)² / n)`, in the unit of `y`.
//! - Accuracy: the fraction of predictions equal to their label.
//! - F1 of the positive class `= 2·TP / (2·TP + FP + FN)`, the harmonic mean of precision and
//!   recall; 0 when there is no positive prediction and no positive label, as scikit-learn's
//!   `f1_score` returns by default.
//!
//! Every function returns `NaN` for empty input and panics when its two slices differ in length.

/// Returns the root mean squared error between `predictions` and `targets`.
///
/// # Panics
/// When the slices differ in length.
pub fn rmse(predictions: &[f32], targets: &[f32]) -> f64 {
    assert_eq!(
        predictions.len(),
        targets.len(),
        "one prediction per target"
    );
    let sum: f64 = predictions
        .iter()
        .zip(targets)
        .map(|(&p, &t)| {
            let d = f64::from(p) - f64::from(t);
            d * d
        })
        .sum();
    (sum / predictions.len() as f64).sqrt()
}

/// Returns the fraction of `predictions` equal to their label in `labels`.
///
/// # Panics
/// When the slices differ in length.
pub fn accuracy<T: PartialEq>(predictions: &[T], labels: &[T]) -> f64 {
    assert_eq!(predictions.len(), labels.len(), "one prediction per label");
    let correct = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    correct as f64 / predictions.len() as f64
}

/// Returns the F1 score of the positive class (`true`).
///
/// # Panics
/// When the slices differ in length.
pub fn f1(predictions: &[bool], labels: &[bool]) -> f64 {
    assert_eq!(predictions.len(), labels.len(), "one prediction per label");
    if predictions.is_empty() {
        return f64::NAN;
    }
    let mut true_positives = 0usize;
    let mut false_positives = 0usize;
    let mut false_negatives = 0usize;
    for (&p, &l) in predictions.iter().zip(labels) {
        match (p, l) {
            (true, true) => true_positives += 1,
            (true, false) => false_positives += 1,
            (false, true) => false_negatives += 1,
            (false, false) => {}
        }
    }
    let denominator = 2 * true_positives + false_positives + false_negatives;
    if denominator == 0 {
        return 0.0;
    }
    (2 * true_positives) as f64 / denominator as f64
}

/// Returns the most frequent value of `labels` (the smallest on a tie), or `None` when empty.
pub fn majority<T: Ord + Copy>(labels: &[T]) -> Option<T> {
    let mut sorted = labels.to_vec();
    sorted.sort_unstable();
    let mut best: Option<(T, usize)> = None;
    for run in sorted.chunk_by(|a, b| a == b) {
        if best.is_none_or(|(_, count)| run.len() > count) {
            best = Some((run[0], run.len()));
        }
    }
    best.map(|(value, _)| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tolerance for metrics computed in `f64` from a handful of values.
    const TOLERANCE: f64 = 1e-12;

    #[test]
    fn rmse_of_literals() {
        // Errors 1, −2, 2: (1 + 4 + 4) / 3 = 3.
        let value = rmse(&[2.0, 0.0, 5.0], &[1.0, 2.0, 3.0]);
        assert!((value - 3f64.sqrt()).abs() < TOLERANCE, "{value}");
        assert_eq!(rmse(&[1.5], &[1.5]), 0.0);
        assert!(rmse(&[], &[]).is_nan());
    }

    #[test]
    fn accuracy_of_literals() {
        assert_eq!(accuracy(&[1, 2, 2, 0], &[1, 2, 0, 0]), 0.75);
        assert_eq!(accuracy(&[true, false], &[false, true]), 0.0);
        assert!(accuracy::<u32>(&[], &[]).is_nan());
    }

    #[test]
    fn f1_of_literals() {
        // TP 2, FP 1, FN 1: 4 / (4 + 1 + 1).
        let predictions = [true, true, true, false, false];
        let labels = [true, true, false, true, false];
        let value = f1(&predictions, &labels);
        assert!((value - 2.0 / 3.0).abs() < TOLERANCE, "{value}");
        assert_eq!(f1(&[false, false], &[false, false]), 0.0);
        assert_eq!(f1(&[true], &[true]), 1.0);
        assert_eq!(f1(&[false], &[true]), 0.0);
    }

    #[test]
    fn majority_of_literals() {
        assert_eq!(majority(&[2, 1, 2, 0, 1, 2]), Some(2));
        assert_eq!(majority(&[1, 0]), Some(0));
        assert_eq!(majority::<u32>(&[]), None);
    }

    #[test]
    #[should_panic(expected = "one prediction per target")]
    fn rmse_rejects_length_mismatch() {
        rmse(&[1.0], &[]);
    }
}
