//! Input scaling by z-scores, `x' = (x − mean) / std`, with statistics from the training split.
//!
//! The statistics belong to the model: a device must scale its readings with the numbers the
//! model was trained with, so checkpoints carry them. `std` is the population standard
//! deviation (as scikit-learn's `StandardScaler`); a feature that never varies gets `std = 1`.

use core::borrow::Borrow;

/// Per-feature mean and standard deviation of `N` features.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Standardizer<const N: usize> {
    /// Mean of each feature over the training split.
    pub mean: [f32; N],
    /// Population standard deviation of each feature over the training split.
    pub std: [f32; N],
}

impl<const N: usize> Default for Standardizer<N> {
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl<const N: usize> Standardizer<N> {
    /// The scaling that changes nothing.
    pub const IDENTITY: Self = Self {
        mean: [0.0; N],
        std: [1.0; N],
    };

    /// Computes the statistics of `rows`, accumulating in `f64`. Returns [`Self::IDENTITY`] for
    /// no rows.
    ///
    /// The rows may be references or values, so a device can compute them on the fly instead of
    /// keeping them in RAM; the iterator is walked twice.
    pub fn fit<R: Borrow<[f32; N]>>(rows: impl Iterator<Item = R> + Clone) -> Self {
        let mut count = 0usize;
        let mut sum = [0.0f64; N];
        for row in rows.clone() {
            count += 1;
            for (s, &v) in sum.iter_mut().zip(row.borrow()) {
                *s += f64::from(v);
            }
        }
        if count == 0 {
            return Self::IDENTITY;
        }
        let mean = sum.map(|s| s / count as f64);
        let mut squares = [0.0f64; N];
        for row in rows {
            for ((s, &v), m) in squares.iter_mut().zip(row.borrow()).zip(&mean) {
                let d = f64::from(v) - m;
                *s += d * d;
            }
        }
        let std = squares.map(|s| {
            let std = libm::sqrt(s / count as f64) as f32;
            if std > 0.0 {
                std
            } else {
                1.0
            }
        });
        Self {
            mean: mean.map(|m| m as f32),
            std,
        }
    }

    /// Scales `x` in place.
    pub fn apply(&self, x: &mut [f32; N]) {
        for ((v, m), s) in x.iter_mut().zip(&self.mean).zip(&self.std) {
            *v = (*v - m) / s;
        }
    }

    /// Undoes the scaling of `x` in place.
    pub fn invert(&self, x: &mut [f32; N]) {
        for ((v, m), s) in x.iter_mut().zip(&self.mean).zip(&self.std) {
            *v = *v * s + m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_and_apply() {
        let rows = [[1.0f32, 5.0], [3.0, 5.0], [5.0, 5.0]];
        let scaler = Standardizer::fit(rows.iter());
        assert_eq!(scaler.mean, [3.0, 5.0]);
        assert_eq!(scaler.std, [libm::sqrtf(8.0 / 3.0), 1.0]);
        let mut x = [3.0, 7.0];
        scaler.apply(&mut x);
        assert_eq!(x, [0.0, 2.0]);
        scaler.invert(&mut x);
        assert_eq!(x, [3.0, 7.0]);
        assert_eq!(Standardizer::<2>::fit([].iter()), Standardizer::IDENTITY);
        let computed = Standardizer::fit((0..3).map(|i| [1.0 + 2.0 * i as f32, 5.0]));
        assert_eq!(computed, scaler);
    }
}
