//! Checks `board::count` against a loop with a known instruction count: on QEMU with
//! `-icount shift=0`, SysTick must advance by one every 40 instructions.

#![no_std]
#![no_main]

use core::arch::asm;

use cortex_m_rt::entry;
use gradwell_firmware::board::{self, Board};
use gradwell_firmware::measure::measure;

/// Iterations of the timed loop, 2 instructions each.
const ITERATIONS: u32 = 1_000_000;

/// Allowed difference between the measured and expected counts: the counter's resolution plus
/// the instructions around the loop.
const TOLERANCE: u64 = 2 * 40;

#[entry]
fn main() -> ! {
    let _board = Board::init();

    let ((), empty) = measure(|| {});
    defmt::info!("empty measurement: {=u64} {=str}", empty, board::COUNT_UNIT);

    let ((), count) = measure(|| spin(ITERATIONS));
    let expected = 2 * u64::from(ITERATIONS);
    defmt::info!(
        "{=u32} iterations of a 2-instruction loop: {=u64} {=str}, expected {=u64}",
        ITERATIONS,
        count,
        board::COUNT_UNIT,
        expected,
    );

    defmt::assert!(
        count.abs_diff(expected) <= TOLERANCE,
        "the count is off by more than {=u64} instructions",
        TOLERANCE
    );
    board::exit(0)
}

/// Runs a loop of exactly `iterations` × 2 instructions (`subs`, `bne`).
#[inline(always)]
fn spin(iterations: u32) {
    // SAFETY: the loop only counts down its own register.
    unsafe {
        asm!(
            "1:",
            "subs {n}, #1",
            "bne 1b",
            n = inout(reg) iterations => _,
            options(nomem, nostack),
        );
    }
}
