//! The demo program. It only uses the embedded-hal traits, so it runs on every board.

use core::hint::black_box;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;

use crate::board;
use crate::measure::measure;

/// Length of the vectors in the dot-product measurement.
const DOT_LENGTH: usize = 256;

/// Blinks the status LED, then measures a dot product and a 100 µs delay and logs the counts.
pub fn run<L: OutputPin, D: DelayNs>(led: &mut L, delay: &mut D) -> Result<(), L::Error> {
    for _ in 0..3 {
        led.set_high()?;
        delay.delay_us(100);
        led.set_low()?;
        delay.delay_us(100);
    }
    defmt::info!("blinked the status LED 3 times");

    let a: [f32; DOT_LENGTH] = core::array::from_fn(|i| i as f32 * 0.5);
    let b: [f32; DOT_LENGTH] = core::array::from_fn(|i| 1.0 - i as f32 * 0.25);
    let (dot, count) = measure(|| dot_product(black_box(&a), black_box(&b)));
    defmt::info!(
        "dot product of two {=usize}-element f32 vectors = {=f32}: {=u64} {=str}",
        DOT_LENGTH,
        dot,
        count,
        board::COUNT_UNIT,
    );

    let ((), count) = measure(|| delay.delay_us(100));
    defmt::info!("delay_us(100): {=u64} {=str}", count, board::COUNT_UNIT);

    Ok(())
}

fn dot_product(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
