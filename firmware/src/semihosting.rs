//! The semihosting call that ends QEMU with an exit status.

use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};

/// `SYS_EXIT_EXTENDED`: like `SYS_EXIT`, but the parameter block also carries the exit code.
const SYS_EXIT_EXTENDED: u32 = 0x20;

/// `ADP_Stopped_ApplicationExit`: the program ended by itself.
const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x2_0026;

/// Parameter block of `SYS_EXIT_EXTENDED`: the reason and the exit code. It is a static because
/// the stack may be exhausted when a fault handler exits.
static EXIT_BLOCK: [AtomicU32; 2] = [
    AtomicU32::new(ADP_STOPPED_APPLICATION_EXIT),
    AtomicU32::new(0),
];

/// Ends QEMU with `code` as the exit status of `qemu-system-arm`.
pub fn exit(code: u8) -> ! {
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
        // QEMU does not return from this call. A host without semihosting support may, and
        // then the program spins here until the runner's time limit ends it.
    }
}
