//! The Seattle weather readings of 2012–2015 in flash, and the samples built from them.
//!
//! `build.rs` converts `data/seattle-weather.csv` into [`READINGS`]: one
//! [`gradwell::weather::Reading`] (8 bytes, tenths of a unit) per day with no gap, so a day's
//! date follows from its index. A sample is three consecutive days, as in the host demo
//! (`host/src/seattle.rs`): yesterday and today give the 10 inputs of [`weather::inputs`],
//! tomorrow gives the targets of [`weather::targets`]. Samples are named by the index of their
//! tomorrow. Those whose tomorrow falls before [`TEST_YEAR`] train, those in it test.
//!
//! Nothing here stores a sample: each one is computed from the readings when it is needed, so
//! the 1094 training samples cost no RAM.

use core::ops::Range;

use gradwell::weather::{self, Day, Reading, Targets};
use gradwell::Standardizer;

include!(concat!(env!("OUT_DIR"), "/seattle_readings.rs"));

/// Samples whose tomorrow is in this year test the model; earlier ones train it.
pub const TEST_YEAR: u16 = 2015;

/// Largest number of training samples: every day but the first two.
pub const MAX_TRAINING_SAMPLES: usize = READINGS.len() - 2;

/// One sample before scaling.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Inputs from yesterday and today.
    pub inputs: [f32; weather::INPUTS],
    /// Tomorrow's temp_max (°C), temp_min (°C) and rain (1 or 0).
    pub targets: [f32; 3],
    /// Today's readings, for the "tomorrow equals today" baseline.
    pub today: Day,
}

/// One sample scaled for the model, with a label for every task.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Example {
    /// Z-scored inputs.
    pub inputs: [f32; weather::INPUTS],
    /// Z-scored temperatures and the rain label.
    pub targets: Targets,
}

/// Input and temperature-target scaling, fitted on the training samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scaling {
    /// Scaling of the 10 inputs.
    pub inputs: Standardizer<{ weather::INPUTS }>,
    /// Scaling of temp_max and temp_min.
    pub temperatures: Standardizer<2>,
}

impl Scaling {
    /// Fits both scalings on the samples of `train`, as the host demo does.
    pub fn fit(train: Range<usize>) -> Self {
        Self {
            inputs: Standardizer::fit(train.clone().map(|t| sample(t).inputs)),
            temperatures: Standardizer::fit(train.map(|t| {
                let targets = sample(t).targets;
                [targets[0], targets[1]]
            })),
        }
    }

    /// Returns sample `tomorrow` scaled for the model.
    pub fn example(&self, tomorrow: usize) -> Example {
        let sample = sample(tomorrow);
        let mut inputs = sample.inputs;
        self.inputs.apply(&mut inputs);
        let mut temperatures = [sample.targets[0], sample.targets[1]];
        self.temperatures.apply(&mut temperatures);
        Example {
            inputs,
            targets: (
                Some([temperatures[0]]),
                Some([temperatures[1]]),
                Some([sample.targets[2]]),
            ),
        }
    }
}

/// Returns the year and the day of the year of reading `index`.
pub fn date(index: usize) -> (u16, u16) {
    let mut year = FIRST_YEAR;
    let mut day = usize::from(FIRST_DAY_OF_YEAR) + index;
    loop {
        let length = if weather::is_leap_year(year) {
            366
        } else {
            365
        };
        if day <= length {
            // `day` is at most 366 here.
            return (year, day as u16);
        }
        day -= length;
        year += 1;
    }
}

/// Returns reading `index` as a [`Day`].
pub fn day(index: usize) -> Day {
    READINGS[index].day(date(index).1)
}

/// Returns the sample whose tomorrow is reading `tomorrow`, which must be at least 2.
pub fn sample(tomorrow: usize) -> Sample {
    let yesterday = day(tomorrow - 2);
    let today = day(tomorrow - 1);
    let next = day(tomorrow);
    Sample {
        inputs: weather::inputs(&yesterday, &today, next.day_of_year),
        targets: weather::targets(&next),
        today,
    }
}

/// Returns the samples (by the index of their tomorrow) that train and those that test.
pub fn split() -> (Range<usize>, Range<usize>) {
    let in_test_year = |index: &usize| date(*index).0 == TEST_YEAR;
    let test_start = (2..READINGS.len())
        .find(in_test_year)
        .unwrap_or(READINGS.len());
    let test_end = (test_start..READINGS.len())
        .find(|index| !in_test_year(index))
        .unwrap_or(READINGS.len());
    (2..test_start, test_start..test_end)
}
