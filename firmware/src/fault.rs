//! Panic and HardFault handlers. Both log what happened with defmt and end the program through
//! [`board::exit`] with a failure code, so a QEMU run ends instead of hanging on a fault.
//!
//! HardFault runs on a stack of its own, [`FAULT_STACK`], so it can report a stack overflow.

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicU8, Ordering};

use cortex_m::peripheral::SCB;
use cortex_m_rt::ExceptionFrame;

use crate::{board, stack};

/// Exit code of a panic, the same as a panicking Rust program on a desktop.
pub const EXIT_PANIC: u8 = 101;

/// Exit code of a HardFault, including a stack overflow that hit the guard region.
pub const EXIT_HARD_FAULT: u8 = 102;

/// Exit code of the first failure, or 0 while there was none. A second failure, such as a
/// panic inside defmt's logger while it reports the first one, exits with this code at once.
static FAILURE: AtomicU8 = AtomicU8::new(0);

const FAULT_STACK_SIZE: usize = 2048;

/// Stack of the HardFault handler.
#[link_section = ".uninit.FAULT_STACK"]
static mut FAULT_STACK: [u64; FAULT_STACK_SIZE / 8] = [0; FAULT_STACK_SIZE / 8];

/// Logs with `report` and exits with `code`, unless a failure is already being reported.
fn fail(code: u8, report: impl FnOnce()) -> ! {
    match FAILURE.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst) {
        Ok(_) => {
            report();
            board::exit(code)
        }
        Err(first) => board::exit(first),
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    fail(EXIT_PANIC, || {
        defmt::error!("{}", defmt::Display2Format(info));
    })
}

/// Runs after `defmt::panic!` and the failed `defmt::assert!` family, which log the message
/// themselves.
#[defmt::panic_handler]
fn defmt_panic() -> ! {
    fail(EXIT_PANIC, || {})
}

// The HardFault vector: finds the exception frame, switches to FAULT_STACK and calls
// `report_hard_fault`. Bit 2 of EXC_RETURN (in lr) selects the stack that contains the frame.
core::arch::global_asm!(
    ".section .HardFault.user, \"ax\"",
    ".global HardFault",
    ".type HardFault, %function",
    ".thumb_func",
    "HardFault:",
    "    mov r0, lr",
    "    movs r1, #4",
    "    tst r0, r1",
    "    ite eq",
    "    mrseq r0, msp",
    "    mrsne r0, psp",
    "    ldr r1, ={fault_stack}+{fault_stack_size}",
    "    mov sp, r1",
    "    b {report}",
    ".size HardFault, . - HardFault",
    fault_stack = sym FAULT_STACK,
    fault_stack_size = const FAULT_STACK_SIZE,
    report = sym report_hard_fault,
);

/// Logs the HardFault and exits with [`EXIT_HARD_FAULT`].
///
/// # Safety
///
/// Only the HardFault vector above may call this, with `frame` pointing to the exception frame.
unsafe extern "C" fn report_hard_fault(frame: &ExceptionFrame) -> ! {
    let frame_address = core::ptr::from_ref(frame) as usize;

    fail(EXIT_HARD_FAULT, || {
        // SAFETY: read-only access to the fault status registers.
        let (cfsr, mmfar) = unsafe { ((*SCB::PTR).cfsr.read(), (*SCB::PTR).mmfar.read()) };

        if frame_address < stack::bottom() {
            // The processor could not push the exception frame into the guard region, so the
            // frame contains no registers. The stack pointer and CFSR (MSTKERR) show the cause.
            defmt::error!(
                "HardFault: stack overflow: the stack pointer reached {=usize:#010x}, below the \
                 {=usize}-byte stack (CFSR {=u32:#010x})",
                frame_address,
                stack::size(),
                cfsr,
            );
        } else {
            defmt::error!(
                "HardFault at {=u32:#010x} (lr {=u32:#010x}, CFSR {=u32:#010x}, MMFAR {=u32:#010x})",
                frame.pc(),
                frame.lr(),
                cfsr,
                mmfar,
            );
        }
    })
}
