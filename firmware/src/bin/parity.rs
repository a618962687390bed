//! Runs the bit-identity cases of `gradwell-parity` and logs each tensor's digest, and the full
//! values of the small cases. `cargo xtask test` runs the same cases natively and compares them
//! value for value (see `docs/bit-identity.md`). First it checks every PyTorch layer golden
//! vector under the host test's tolerances, and it exits with status 1 when one fails.
//!
//! The weather case runs twice, with `libm`'s square root and with the `vsqrt.f32` instruction,
//! and both runs must match the host. It needs about 100 KB of stack, because `Trainer::new` builds its 64 KB value
//! on the stack before moving it. The 32 KB main stack cannot hold that, so on the QEMU memory
//! map the case runs on a stack of its own in static RAM. With the `fit-128k` map or on the
//! nRF52840 there is no room for it, and the binary runs only the small cases.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use gradwell_firmware::board::{self, Board};
use gradwell_firmware::stack;
use gradwell_parity::{device, CASES};

#[entry]
fn main() -> ! {
    let _board = Board::init();

    let golden_failures = device::report_golden();
    let cases = device::report_cases(CASES);
    defmt::info!("peak main stack use: {=usize} bytes", stack::peak_use());
    device::finish(cases + report_weather());
    board::exit(if golden_failures == 0 { 0 } else { 1 })
}

/// Runs the weather case on its own stack. Returns the number of cases reported.
#[cfg(all(feature = "qemu", not(feature = "fit-128k")))]
fn report_weather() -> u32 {
    weather_stack::report_weather()
}

/// Skips the weather case, for which this memory map has no room. Returns 0 cases.
#[cfg(not(all(feature = "qemu", not(feature = "fit-128k"))))]
fn report_weather() -> u32 {
    0
}

#[cfg(all(feature = "qemu", not(feature = "fit-128k")))]
mod weather_stack {
    use core::arch::asm;
    use core::mem::MaybeUninit;
    use core::ptr::addr_of_mut;

    use gradwell::{Libm, Sqrt};
    use gradwell_firmware::hw_sqrt::HwSqrt;
    use gradwell_parity::device;
    use gradwell_parity::weather::{self, WeatherRun};

    /// Size of the weather case's stack, in bytes: its measured use, 97 KB in a release
    /// build, with room to spare.
    const SIZE: usize = 128 * 1024;

    /// Word written over the whole stack before the run, so that the words still holding it
    /// afterwards show how much was never used.
    const PAINT: u32 = 0xdead_beef;

    /// The weather case's stack. `u64` words keep it 8-byte aligned, as the AAPCS requires.
    #[link_section = ".uninit.WEATHER_STACK"]
    static mut STACK: MaybeUninit<[u64; SIZE / 8]> = MaybeUninit::uninit();

    /// Runs the weather case on [`STACK`], with each square root. Returns the number of cases
    /// reported (2).
    pub fn report_weather() -> u32 {
        let bottom = addr_of_mut!(STACK).cast::<u32>();
        let words = SIZE / 4;
        for i in 0..words {
            // SAFETY: `i` is inside `STACK`, which nothing else uses.
            unsafe { bottom.add(i).write_volatile(PAINT) };
        }

        // SAFETY: `STACK` is 8-byte aligned, nothing else uses it, and `run` is an
        // `extern "C"` function. r5 is callee-saved, so `run` preserves the saved stack pointer
        // in it, and the asm block restores it before returning. The outputs list every
        // register that the AAPCS lets `run` change (the Cortex-M4F has only s0–s31).
        unsafe {
            let top = bottom.add(words);
            asm!(
                "mov r5, sp",
                "mov sp, {top}",
                "blx {run}",
                "mov sp, r5",
                top = in(reg) top,
                run = in(reg) run as extern "C" fn(),
                out("r5") _,
                out("r0") _, out("r1") _, out("r2") _, out("r3") _, out("r12") _, out("lr") _,
                out("s0") _, out("s1") _, out("s2") _, out("s3") _,
                out("s4") _, out("s5") _, out("s6") _, out("s7") _,
                out("s8") _, out("s9") _, out("s10") _, out("s11") _,
                out("s12") _, out("s13") _, out("s14") _, out("s15") _,
            );
        }

        let unused = (0..words)
            // SAFETY: `i` is inside `STACK`, which the run has finished with.
            .take_while(|&i| unsafe { bottom.add(i).read_volatile() } == PAINT)
            .count();
        let used = SIZE - 4 * unused;
        defmt::info!(
            "peak weather stack use: {=usize} of {=usize} bytes",
            used,
            SIZE
        );
        defmt::assert!(
            unused > 0,
            "the weather case used all of its {=usize}-byte stack",
            SIZE
        );
        2
    }

    /// Runs the weather case with `libm`'s square root, then with `vsqrt.f32`.
    extern "C" fn run() {
        report_with::<Libm>(weather::NAME);
        report_with::<HwSqrt>(weather::HW_SQRT_NAME);
    }

    /// Runs the weather case with Adam's square root from `S`. It is not inlined, so that the
    /// two runs take the stack one after the other.
    #[inline(never)]
    fn report_with<S: Sqrt>(name: &str) {
        let mut state = WeatherRun::<S>::new();
        device::report_weather(name, &mut state);
    }
}
