//! QEMU's `mps2-an386` machine: a Cortex-M4F on the Arm MPS2+ board with the AN386 FPGA image.
//!
//! QEMU has no cycle counter (DWT CYCCNT reads 0), so [`count`] counts instructions instead:
//! with `-icount shift=0` every instruction advances the virtual clock by 1 ns, and SysTick,
//! clocked at the 25 MHz system clock, advances by one every 40 instructions.

use core::convert::Infallible;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType, OutputPin, StatefulOutputPin};

use crate::{guard, semihosting, systick};

// The global defmt logger: log frames go to QEMU's standard output through semihosting.
use defmt_semihosting as _;

/// Board name for log messages.
pub const NAME: &str = "QEMU mps2-an386";

/// Unit of [`count`].
pub const COUNT_UNIT: &str = "instructions";

/// Frequency of the system clock that drives SysTick, in Hz (`SYSCLK_FRQ` in QEMU's
/// `hw/arm/mps2.c`).
const SYSCLK_HZ: u64 = 25_000_000;

/// Instructions per SysTick tick when QEMU runs with `-icount shift=0` (1 ns per instruction).
const INSTRUCTIONS_PER_TICK: u64 = 1_000_000_000 / SYSCLK_HZ;

/// Address of the FPGAIO LED0 register, whose bit 0 drives user LED 0.
const FPGAIO_LED0: *mut u32 = 0x4002_8000 as *mut u32;

/// The peripherals that programs use.
pub struct Board {
    /// User LED 0, in the FPGAIO LED0 register.
    pub led: StatusLed,
    /// Busy-wait delay on the SysTick counter.
    pub delay: Delay,
}

impl Board {
    /// Enables the stack guard and starts the SysTick counter.
    ///
    /// # Panics
    ///
    /// Panics when called a second time, because the core peripherals are already taken.
    pub fn init() -> Board {
        let mut core = cortex_m::Peripherals::take().expect("Board::init was called twice");
        guard::enable(&mut core.MPU);
        systick::start(core.SYST);

        Board {
            led: StatusLed { _private: () },
            delay: Delay { _private: () },
        }
    }
}

/// Returns the number of instructions executed since [`Board::init`], in steps of 40.
///
/// The count is exact only when QEMU runs with `-icount shift=0`. Without `-icount`, SysTick
/// follows the host's clock and the count is 40 times the elapsed time in units of 40 ns.
pub fn count() -> u64 {
    systick::ticks() * INSTRUCTIONS_PER_TICK
}

/// Ends QEMU with `code` as its exit status.
pub fn exit(code: u8) -> ! {
    semihosting::exit(code)
}

/// User LED 0 of the MPS2 board. QEMU keeps the register value, so the state reads back.
pub struct StatusLed {
    _private: (),
}

impl StatusLed {
    fn write(&mut self, on: bool) {
        // SAFETY: FPGAIO_LED0 is a valid, aligned MMIO register on this machine, and only this
        // type, of which `Board::init` makes a single instance, writes it.
        unsafe {
            let value = FPGAIO_LED0.read_volatile();
            let value = if on { value | 1 } else { value & !1 };
            FPGAIO_LED0.write_volatile(value);
        }
    }
}

impl ErrorType for StatusLed {
    type Error = Infallible;
}

impl OutputPin for StatusLed {
    fn set_low(&mut self) -> Result<(), Infallible> {
        self.write(false);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        self.write(true);
        Ok(())
    }
}

impl StatefulOutputPin for StatusLed {
    fn is_set_high(&mut self) -> Result<bool, Infallible> {
        // SAFETY: see `write`.
        let value = unsafe { FPGAIO_LED0.read_volatile() };
        Ok(value & 1 == 1)
    }

    fn is_set_low(&mut self) -> Result<bool, Infallible> {
        Ok(!self.is_set_high()?)
    }
}

/// Busy-wait delay on the free-running SysTick counter, in units of the emulated time (1 ns per
/// instruction with `-icount shift=0`).
pub struct Delay {
    _private: (),
}

impl DelayNs for Delay {
    fn delay_ns(&mut self, ns: u32) {
        let ticks = (u64::from(ns) * SYSCLK_HZ).div_ceil(1_000_000_000);
        let start = systick::ticks();
        while systick::ticks() - start < ticks {}
    }
}
