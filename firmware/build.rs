//! Copies the memory map of the selected board (or of the `fit-128k` part) to `OUT_DIR` as
//! `memory.x`, where the `link.x` script of cortex-m-rt includes it.
//!
//! It also converts the Seattle weather readings of `data/seattle-weather.csv` into
//! `OUT_DIR/seattle_readings.rs`, an array of `gradwell::weather::Reading` that the firmware
//! keeps in flash.
//!
//! The CSV must hold one row per day with no gap, because the firmware finds a day's date from
//! its index. Every reading must be a decimal number with at most one digit after the point, so
//! that it converts to tenths exactly. The build fails with the offending line otherwise.

use std::fmt::Write as _;
use std::{env, fs, path::Path, path::PathBuf};

use gradwell::weather::{day_of_year, is_leap_year};

/// The weather readings, relative to the firmware workspace.
const WEATHER_CSV: &str = "../data/seattle-weather.csv";

/// Columns of the CSV file, in order.
const WEATHER_HEADER: &str = "date,precipitation,temp_max,temp_min,wind,weather";

fn main() {
    let qemu = env::var_os("CARGO_FEATURE_QEMU").is_some();
    let nrf52840 = env::var_os("CARGO_FEATURE_NRF52840").is_some();
    let fit_128k = env::var_os("CARGO_FEATURE_FIT_128K").is_some();

    let map = match (qemu, nrf52840, fit_128k) {
        (true, false, false) => "mps2-an386.x",
        (true, false, true) => "fit-128k.x",
        (false, true, false) => "nrf52840.x",
        (false, true, true) => panic!(
            "feature `fit-128k` is only supported with `qemu`: the nrf52840 profile links \
             with flip-link, which places the stack itself"
        ),
        _ => panic!(
            "select exactly one board feature: `qemu` (the default) or `nrf52840` \
             (with `--no-default-features`)"
        ),
    };

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let source = PathBuf::from("memory");
    fs::copy(source.join(map), out.join("memory.x")).expect("copy the memory map to OUT_DIR");
    fs::copy(source.join("stack.x"), out.join("stack.x")).expect("copy stack.x to OUT_DIR");

    println!("cargo:rustc-link-search={}", out.display());
    println!(
        "cargo:rustc-env=GRADWELL_MEMORY_MAP={}",
        map.trim_end_matches(".x")
    );
    // The variable lets a check point the build at another file, such as one with a gap.
    let csv = env::var("GRADWELL_WEATHER_CSV").unwrap_or_else(|_| WEATHER_CSV.to_string());
    let readings = weather_readings(Path::new(&csv)).unwrap_or_else(|error| {
        panic!("invalid weather data in {csv}: {error}");
    });
    fs::write(out.join("seattle_readings.rs"), readings)
        .expect("write seattle_readings.rs to OUT_DIR");

    println!("cargo:rerun-if-changed={csv}");
    println!("cargo:rerun-if-env-changed=GRADWELL_WEATHER_CSV");
    println!("cargo:rerun-if-changed=memory");
    println!("cargo:rerun-if-changed=build.rs");
}

/// Parses the weather CSV and returns Rust source that defines `FIRST_YEAR`,
/// `FIRST_DAY_OF_YEAR` and `READINGS`.
fn weather_readings(path: &Path) -> Result<String, String> {
    let text =
        fs::read_to_string(path).map_err(|error| format!("failed to read the file: {error}"))?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.trim_end() == WEATHER_HEADER => {}
        Some((_, header)) => {
            return Err(format!(
                "line 1: expected the header `{WEATHER_HEADER}`, found `{header}`"
            ))
        }
        None => return Err("the file is empty".into()),
    }

    let mut first: Option<(u16, u16)> = None;
    let mut previous: Option<(u16, u16, String)> = None;
    let mut rows = String::new();
    let mut count = 0usize;
    for (index, line) in lines {
        let number = index + 1;
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 6 {
            return Err(format!(
                "line {number}: expected 6 fields, found {}: `{line}`",
                fields.len()
            ));
        }
        let (year, day) = parse_date(fields[0])
            .ok_or_else(|| format!("line {number}: invalid date `{}`", fields[0]))?;
        if let Some((previous_year, previous_day, previous_text)) = &previous {
            let year_length = 365 + u16::from(is_leap_year(*previous_year));
            let expected = if *previous_day == year_length {
                (previous_year + 1, 1)
            } else {
                (*previous_year, previous_day + 1)
            };
            if (year, day) != expected {
                return Err(format!(
                    "line {number}: date {} does not follow {previous_text}; the firmware \
                     needs one row per day with no gap",
                    fields[0]
                ));
            }
        }
        first.get_or_insert((year, day));
        previous = Some((year, day, fields[0].to_string()));

        let tenths = |column: usize, name: &str| {
            parse_tenths(fields[column]).ok_or_else(|| {
                format!(
                    "line {number}: {name} `{}` is not a number with at most one decimal",
                    fields[column]
                )
            })
        };
        let precipitation = tenths(1, "precipitation")?;
        let temp_max = tenths(2, "temp_max")?;
        let temp_min = tenths(3, "temp_min")?;
        let wind = tenths(4, "wind")?;
        let unsigned = |value: i32, name: &str| {
            u16::try_from(value)
                .map_err(|_| format!("line {number}: {name} {value} tenths is out of range"))
        };
        let signed = |value: i32, name: &str| {
            i16::try_from(value)
                .map_err(|_| format!("line {number}: {name} {value} tenths is out of range"))
        };
        writeln!(
            rows,
            "    Reading {{ precipitation: {}, temp_max: {}, temp_min: {}, wind: {} }},",
            unsigned(precipitation, "precipitation")?,
            signed(temp_max, "temp_max")?,
            signed(temp_min, "temp_min")?,
            unsigned(wind, "wind")?,
        )
        .expect("writing to a String cannot fail");
        count += 1;
    }

    let (first_year, first_day) = first.ok_or("the file has no rows")?;
    Ok(format!(
        "// Generated by build.rs from {WEATHER_CSV}.\n\
         /// Year of the first reading.\n\
         pub const FIRST_YEAR: u16 = {first_year};\n\
         /// Day of the year of the first reading, 1 for 1 January.\n\
         pub const FIRST_DAY_OF_YEAR: u16 = {first_day};\n\
         /// One reading per day from the first day on, with no gap.\n\
         pub static READINGS: [Reading; {count}] = [\n{rows}];\n"
    ))
}

/// Parses `YYYY-MM-DD` into the year and the day of the year.
fn parse_date(text: &str) -> Option<(u16, u16)> {
    let mut parts = text.split('-');
    let year: u16 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((year, day_of_year(year, month, day)?))
}

/// Parses a decimal number with at most one digit after the point into tenths, exactly.
fn parse_tenths(text: &str) -> Option<i32> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) || fraction.len() > 1 {
        return None;
    }
    let value = whole.parse::<i32>().ok()?.checked_mul(10)? + fraction.parse::<i32>().ok()?;
    Some(if negative { -value } else { value })
}
