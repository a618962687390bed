//! SysTick as a free-running 64-bit tick counter: the 24-bit hardware counter counts down from
//! `RELOAD` at the processor clock, and the SysTick exception counts its wraps.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::exception;

const RELOAD: u32 = 0x00FF_FFFF;

/// Ticks per wrap of the hardware counter.
const PERIOD: u64 = RELOAD as u64 + 1;

/// Wraps of the hardware counter since `start`.
static WRAPS: AtomicU32 = AtomicU32::new(0);

/// Starts counting from zero, with the SysTick exception enabled.
pub fn start(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(RELOAD);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Returns the ticks since `start`.
///
/// The count stays right inside a critical section for up to half a wrap (2^23 ticks), because
/// a pending SysTick exception is counted as a wrap.
pub fn ticks() -> u64 {
    loop {
        let wraps = WRAPS.load(Ordering::Acquire);
        let current = SYST::get_current();
        let pending = SCB::is_pendst_pending();
        if WRAPS.load(Ordering::Acquire) != wraps {
            // The SysTick exception ran between the reads.
            continue;
        }

        // A pending exception with a high counter value means that the counter wrapped before
        // it was read, but the exception has not run yet (interrupts are masked).
        let mut wraps = u64::from(wraps);
        if pending && current > RELOAD / 2 {
            wraps += 1;
        }
        return wraps * PERIOD + u64::from(RELOAD - current);
    }
}

#[exception]
fn SysTick() {
    WRAPS.fetch_add(1, Ordering::Release);
}
