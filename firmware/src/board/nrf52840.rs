//! The nRF52840-DK: an nRF52840 (Cortex-M4F at 64 MHz) with user LED 1 on P0.13.
//!
//! [`count`] counts processor cycles with the DWT cycle counter.

use core::convert::Infallible;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::DWT;
use embedded_hal::digital::{ErrorType, OutputPin};
use nrf52840_hal::gpio::{p0, Level, Output, Pin, PushPull};
use nrf52840_hal::{pac, Delay};

// The global defmt logger: log frames go to the debug probe through RTT.
use defmt_rtt as _;

/// Board name for log messages.
pub const NAME: &str = "nRF52840-DK";

/// Unit of [`count`].
pub const COUNT_UNIT: &str = "cycles";

/// The peripherals that programs use.
pub struct Board {
    /// User LED 1.
    pub led: StatusLed,
    /// Busy-wait delay on SysTick.
    pub delay: Delay,
}

impl Board {
    /// Starts the cycle counter and configures the LED pin.
    ///
    /// # Panics
    ///
    /// Panics when called a second time, because the peripherals are already taken.
    pub fn init() -> Board {
        let mut core = pac::CorePeripherals::take().expect("Board::init was called twice");
        let peripherals = pac::Peripherals::take().expect("Board::init was called twice");

        core.DCB.enable_trace();
        core.DWT.enable_cycle_counter();

        let port0 = p0::Parts::new(peripherals.P0);
        // The LED lights when the pin is low, so it starts high (off).
        let pin = port0.p0_13.into_push_pull_output(Level::High).degrade();

        Board {
            led: StatusLed { pin },
            delay: Delay::new(core.SYST),
        }
    }
}

/// Upper 32 bits of the count, and the last value read from the 32-bit cycle counter.
static HIGH: AtomicU32 = AtomicU32::new(0);
static LAST: AtomicU32 = AtomicU32::new(0);

/// Returns the processor cycles since [`Board::init`].
///
/// The 32-bit hardware counter wraps every 67 s at 64 MHz. The count extends it to 64 bits and
/// stays right as long as it is read at least once per wrap. Call it from the main thread only,
/// because a read from an interrupt handler in the middle of another read can count a wrap
/// twice.
pub fn count() -> u64 {
    let now = DWT::cycle_count();
    let last = LAST.swap(now, Ordering::Relaxed);
    let mut high = HIGH.load(Ordering::Relaxed);
    if now < last {
        high = high.wrapping_add(1);
        HIGH.store(high, Ordering::Relaxed);
    }
    (u64::from(high) << 32) | u64::from(now)
}

/// Ends the program. Success ends with a breakpoint, which probe-rs reports as the end of the
/// run. A failure ends with an undefined instruction, which probe-rs reports with a backtrace.
pub fn exit(code: u8) -> ! {
    if code == 0 {
        loop {
            cortex_m::asm::bkpt();
        }
    }
    cortex_m::asm::udf()
}

/// User LED 1 of the DK, which lights when its pin is low. `set_high` turns it on.
pub struct StatusLed {
    pin: Pin<Output<PushPull>>,
}

impl ErrorType for StatusLed {
    type Error = Infallible;
}

impl OutputPin for StatusLed {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.pin.set_high()
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.pin.set_low()
    }
}
