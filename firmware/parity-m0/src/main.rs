//! Runs the bit-identity cases of `gradwell-parity` on a Cortex-M0 with software floating point
//! and logs their digests and values, as `firmware/src/bin/parity.rs` does on the Cortex-M4F.
//!
//! First it checks every PyTorch layer golden vector under the host test's tolerances, and it
//! exits with status 1 when one fails. The weather case needs about 100 KB of RAM and is left
//! out. A panic ends QEMU with exit
//! status 101 and a HardFault with 102, the codes of the main firmware.

#![no_std]
#![no_main]

use core::arch::asm;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m_rt::{entry, exception, ExceptionFrame};
// Linked for its `critical-section` implementation, which defmt uses.
use cortex_m as _;
use defmt_semihosting as _;
use gradwell_parity::{device, CASES};

/// Exit status of a panic.
const EXIT_PANIC: u8 = 101;

/// Exit status of a HardFault, which includes a stack overflow into a fault.
const EXIT_HARD_FAULT: u8 = 102;

/// `SYS_EXIT_EXTENDED`: like `SYS_EXIT`, but the parameter block also carries the exit code.
const SYS_EXIT_EXTENDED: u32 = 0x20;

/// `ADP_Stopped_ApplicationExit`: the program ended by itself.
const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x2_0026;

/// Parameter block of `SYS_EXIT_EXTENDED`: the reason and the exit code.
static EXIT_BLOCK: [AtomicU32; 2] = [
    AtomicU32::new(ADP_STOPPED_APPLICATION_EXIT),
    AtomicU32::new(0),
];

#[entry]
fn main() -> ! {
    let golden_failures = device::report_golden();
    let cases = device::report_cases(CASES);
    device::finish(cases);

    let (used, size) = peak_stack_use();
    defmt::info!("peak stack use: {=usize} of {=usize} bytes", used, size);
    exit(if golden_failures == 0 { 0 } else { 1 })
}

extern "C" {
    /// Top of the stack (its highest address), from cortex-m-rt's `link.x`.
    static _stack_start: u32;
    /// Bottom of the stack (its lowest usable address), from cortex-m-rt's `link.x`.
    static _stack_end: u32;
}

/// Returns the most stack used since reset and the stack size, in bytes.
///
/// cortex-m-rt fills the stack with `STACK_PAINT_VALUE` at reset, and the stack grows down, so
/// the lowest word that no longer contains it marks the deepest point reached.
fn peak_stack_use() -> (usize, usize) {
    let bottom = core::ptr::addr_of!(_stack_end) as usize;
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let mut address = bottom;
    while address < top {
        // SAFETY: the address is an aligned word inside the stack region.
        let word = unsafe { (address as *const u32).read_volatile() };
        if word != cortex_m_rt::STACK_PAINT_VALUE {
            break;
        }
        address += 4;
    }
    (top - address, top - bottom)
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    defmt::error!("{}", defmt::Display2Format(info));
    exit(EXIT_PANIC)
}

#[defmt::panic_handler]
fn defmt_panic() -> ! {
    exit(EXIT_PANIC)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!("HardFault at pc {=u32:#010x}", frame.pc());
    exit(EXIT_HARD_FAULT)
}

/// Ends QEMU with `code` as the exit status of `qemu-system-arm`.
fn exit(code: u8) -> ! {
    EXIT_BLOCK[1].store(u32::from(code), Ordering::SeqCst);
    loop {
        // SAFETY: `bkpt 0xab` is the semihosting call on M-profile cores. r0 selects the call,
        // and r1 points to its parameter block, a static.
        unsafe {
            asm!(
                "bkpt #0xab",
                inout("r0") SYS_EXIT_EXTENDED => _,
                in("r1") EXIT_BLOCK.as_ptr(),
                options(nostack),
            );
        }
    }
}
