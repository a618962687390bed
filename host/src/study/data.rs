//! The Seattle weather samples the study trains on: one sample per pair of consecutive days,
//! predicting the day after, split by the year of that predicted day.

use std::path::Path;

use anyhow::{bail, Context};
use gradwell::weather::{day_of_year, inputs, targets, Day, INPUTS};
use gradwell::Standardizer;

/// Years whose days are training targets; the test split is [`TEST_YEAR`].
const TRAIN_YEARS: core::ops::RangeInclusive<u16> = 2012..=2014;
/// Year whose days are test targets.
const TEST_YEAR: u16 = 2015;
/// Expected CSV header.
const HEADER: &str = "date,precipitation,temp_max,temp_min,wind,weather";

/// One training or test sample, with inputs and targets already standardised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// The 10 model inputs of [`gradwell::weather::inputs`], z-scored.
    pub x: [f32; INPUTS],
    /// Tomorrow's maximum and minimum temperature, z-scored.
    pub temperatures: [f32; 2],
    /// Tomorrow's maximum and minimum temperature, °C.
    pub temperatures_celsius: [f32; 2],
    /// 1.0 when tomorrow has any precipitation, else 0.0.
    pub rain: f32,
    /// Tomorrow's wind, z-scored.
    pub wind: f32,
}

/// Training and test samples with the statistics used to scale them.
#[derive(Clone, Debug)]
pub struct WeatherData {
    /// Samples whose predicted day falls in 2012–2014.
    pub train: Vec<Sample>,
    /// Samples whose predicted day falls in 2015.
    pub test: Vec<Sample>,
    /// Scaling of the two temperature targets, fitted on the training samples.
    pub temperature_scaler: Standardizer<2>,
}

impl WeatherData {
    /// Reads `data/seattle-weather.csv` and builds standardised training and test samples.
    ///
    /// # Errors
    /// When the file cannot be read, its header differs from the expected columns, or a row has
    /// an invalid date or number.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read weather data from {}", path.display()))?;
        let days =
            parse_days(&text).with_context(|| format!("invalid data in {}", path.display()))?;
        Ok(Self::from_days(&days))
    }

    fn from_days(days: &[(u16, Day)]) -> Self {
        let mut raw_train = Vec::new();
        let mut raw_test = Vec::new();
        for window in days.windows(3) {
            let [(_, yesterday), (_, today), (year, tomorrow)] = window else {
                continue;
            };
            let raw = (inputs(yesterday, today, tomorrow.day_of_year), *tomorrow);
            if TRAIN_YEARS.contains(year) {
                raw_train.push(raw);
            } else if *year == TEST_YEAR {
                raw_test.push(raw);
            }
        }

        let input_scaler = Standardizer::fit(raw_train.iter().map(|(x, _)| x));
        let train_temperatures: Vec<[f32; 2]> =
            raw_train.iter().map(|(_, d)| temperatures(d)).collect();
        let temperature_scaler = Standardizer::fit(train_temperatures.iter());
        let winds: Vec<[f32; 1]> = raw_train.iter().map(|(_, d)| [d.wind]).collect();
        let wind_scaler = Standardizer::fit(winds.iter());

        let sample = |(mut x, tomorrow): ([f32; INPUTS], Day)| {
            input_scaler.apply(&mut x);
            let mut scaled = temperatures(&tomorrow);
            temperature_scaler.apply(&mut scaled);
            let mut wind = [tomorrow.wind];
            wind_scaler.apply(&mut wind);
            Sample {
                x,
                temperatures: scaled,
                temperatures_celsius: temperatures(&tomorrow),
                rain: targets(&tomorrow)[2],
                wind: wind[0],
            }
        };
        Self {
            train: raw_train.into_iter().map(sample).collect(),
            test: raw_test.into_iter().map(sample).collect(),
            temperature_scaler,
        }
    }
}

fn temperatures(day: &Day) -> [f32; 2] {
    let [max, min, _] = targets(day);
    [max, min]
}

/// Parses the CSV text into `(year, day)` pairs in file order.
fn parse_days(text: &str) -> anyhow::Result<Vec<(u16, Day)>> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim() == HEADER => {}
        Some((_, header)) => bail!("header is {header:?}, expected {HEADER:?}"),
        None => bail!("file is empty, expected the header {HEADER:?}"),
    }
    let mut days = Vec::new();
    for (index, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let day = parse_row(line).with_context(|| format!("line {}: {line:?}", index + 1))?;
        days.push(day);
    }
    Ok(days)
}

fn parse_row(line: &str) -> anyhow::Result<(u16, Day)> {
    let fields: Vec<&str> = line.trim().split(',').collect();
    let [date, precipitation, temp_max, temp_min, wind, _weather] = fields[..] else {
        bail!("expected 6 fields, found {}", fields.len());
    };
    let mut parts = date.splitn(3, '-');
    let (Some(year), Some(month), Some(day)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("date {date:?} is not YYYY-MM-DD");
    };
    let year: u16 = year
        .parse()
        .with_context(|| format!("invalid year in {date:?}"))?;
    let month: u8 = month
        .parse()
        .with_context(|| format!("invalid month in {date:?}"))?;
    let day: u8 = day
        .parse()
        .with_context(|| format!("invalid day in {date:?}"))?;
    let Some(day_of_year) = day_of_year(year, month, day) else {
        bail!("date {date:?} does not exist");
    };
    let number = |name: &str, text: &str| -> anyhow::Result<f32> {
        text.parse()
            .with_context(|| format!("{name} {text:?} is not a number"))
    };
    Ok((
        year,
        Day {
            precipitation: number("precipitation", precipitation)?,
            temp_max: number("temp_max", temp_max)?,
            temp_min: number("temp_min", temp_min)?,
            wind: number("wind", wind)?,
            day_of_year,
        },
    ))
}
