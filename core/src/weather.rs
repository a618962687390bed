//! The Seattle weather demo: the model, its inputs and its targets, shared by the desktop tool
//! and the firmware so that both compute the very same numbers.
//!
//! From two consecutive days of readings, the model predicts three things about the next day:
//! its maximum and minimum temperature (squared error) and whether it rains (binary
//! cross-entropy on a logit). The 10 inputs are, for today and yesterday, precipitation (mm),
//! maximum and minimum temperature (°C) and wind, then the sine and cosine of tomorrow's day
//! of the year, `2π · day / 365.25`.
//!
//! Readings are stored on the device as [`Reading`]s, tenths of a unit in 16-bit integers; a
//! tenth converted with [`Reading::day`] is the same `f32` as the decimal text parsed on the
//! desktop, because both are the correctly rounded value of the same decimal number.

use crate::loss::{BinaryCrossEntropy, Mse};
use crate::objective::Task;
use crate::{seq, Dense, MultiTask, Relu};

/// Number of model inputs.
pub const INPUTS: usize = 10;

/// The demo's model: a 10 → 64 → 32 trunk and three heads of width 1.
pub type Model = MultiTask<
    seq![Dense<INPUTS, 64, Relu>, Dense<64, 32, Relu>],
    (Dense<32, 1>, Dense<32, 1>, Dense<32, 1>),
>;

/// The demo's objective: squared error on both temperatures, cross-entropy on rain.
pub type Objective = (Task<Mse>, Task<Mse>, Task<BinaryCrossEntropy>);

/// One sample's targets, in head order; `None` where a label is missing.
pub type Targets = (Option<[f32; 1]>, Option<[f32; 1]>, Option<[f32; 1]>);

/// Returns the demo's objective with equal task weights.
pub fn objective() -> Objective {
    (
        Task::new(Mse),
        Task::new(Mse),
        Task::new(BinaryCrossEntropy),
    )
}

/// One day of weather readings.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Day {
    /// Precipitation, mm.
    pub precipitation: f32,
    /// Maximum temperature, °C.
    pub temp_max: f32,
    /// Minimum temperature, °C.
    pub temp_min: f32,
    /// Wind speed, in the data set's unit.
    pub wind: f32,
    /// Day of the year, 1 for 1 January.
    pub day_of_year: u16,
}

/// One day of readings in tenths of a unit, the compact form kept in flash.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reading {
    /// Precipitation, tenths of a mm.
    pub precipitation: u16,
    /// Maximum temperature, tenths of a °C.
    pub temp_max: i16,
    /// Minimum temperature, tenths of a °C.
    pub temp_min: i16,
    /// Wind speed, tenths of the data set's unit.
    pub wind: u16,
}

impl Reading {
    /// Returns the readings as a [`Day`] with the given day of the year.
    pub fn day(&self, day_of_year: u16) -> Day {
        Day {
            precipitation: f32::from(self.precipitation) / 10.0,
            temp_max: f32::from(self.temp_max) / 10.0,
            temp_min: f32::from(self.temp_min) / 10.0,
            wind: f32::from(self.wind) / 10.0,
            day_of_year,
        }
    }
}

/// Returns the model inputs for predicting the day after `today`.
pub fn inputs(yesterday: &Day, today: &Day, tomorrow_day_of_year: u16) -> [f32; INPUTS] {
    let angle = 2.0 * core::f32::consts::PI * f32::from(tomorrow_day_of_year) / 365.25;
    [
        today.precipitation,
        today.temp_max,
        today.temp_min,
        today.wind,
        yesterday.precipitation,
        yesterday.temp_max,
        yesterday.temp_min,
        yesterday.wind,
        libm::sinf(angle),
        libm::cosf(angle),
    ]
}

/// Returns the raw targets for `tomorrow`: maximum and minimum temperature (°C) and rain
/// (1.0 when any precipitation was recorded, else 0.0).
pub fn targets(tomorrow: &Day) -> [f32; 3] {
    let rain = if tomorrow.precipitation > 0.0 {
        1.0
    } else {
        0.0
    };
    [tomorrow.temp_max, tomorrow.temp_min, rain]
}

/// Returns `true` for a leap year of the Gregorian calendar.
pub const fn is_leap_year(year: u16) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Returns the day of the year (1 for 1 January) of a date, or `None` for an invalid date.
pub fn day_of_year(year: u16, month: u8, day: u8) -> Option<u16> {
    const DAYS: [u16; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let leap = u16::from(is_leap_year(year));
    let month_length = |m: usize| DAYS[m] + if m == 1 { leap } else { 0 };
    if u16::from(day) > month_length(usize::from(month - 1)) {
        return None;
    }
    Some((0..usize::from(month - 1)).map(month_length).sum::<u16>() + u16::from(day))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Layer;

    #[test]
    fn tenths_equal_parsed_decimals() {
        let reading = Reading {
            precipitation: 109,
            temp_max: -28,
            temp_min: 72,
            wind: 47,
        };
        let day = reading.day(3);
        assert_eq!(day.precipitation.to_bits(), 10.9f32.to_bits());
        assert_eq!(day.temp_max.to_bits(), (-2.8f32).to_bits());
        assert_eq!(day.temp_min.to_bits(), 7.2f32.to_bits());
        assert_eq!(day.wind.to_bits(), 4.7f32.to_bits());
    }

    #[test]
    fn days_of_year() {
        assert_eq!(day_of_year(2012, 1, 1), Some(1));
        assert_eq!(day_of_year(2012, 3, 1), Some(61));
        assert_eq!(day_of_year(2013, 3, 1), Some(60));
        assert_eq!(day_of_year(2012, 12, 31), Some(366));
        assert_eq!(day_of_year(2013, 2, 29), None);
        assert_eq!(day_of_year(2013, 13, 1), None);
    }

    #[test]
    fn inputs_and_targets() {
        let yesterday = Day {
            precipitation: 0.0,
            temp_max: 12.8,
            temp_min: 5.0,
            wind: 4.7,
            day_of_year: 1,
        };
        let today = Day {
            precipitation: 10.9,
            temp_max: 10.6,
            temp_min: 2.8,
            wind: 4.5,
            day_of_year: 2,
        };
        let x = inputs(&yesterday, &today, 3);
        assert_eq!(&x[..8], &[10.9, 10.6, 2.8, 4.5, 0.0, 12.8, 5.0, 4.7]);
        assert!((x[8] * x[8] + x[9] * x[9] - 1.0).abs() < 1e-6);
        assert_eq!(targets(&today), [10.6, 2.8, 1.0]);
    }

    #[test]
    fn model_size() {
        // 10·64 + 64 + 64·32 + 32 + 3·(32 + 1) parameters: 11.4 KB in f32.
        assert_eq!(Model::TRAINABLE, 2883);
    }
}
