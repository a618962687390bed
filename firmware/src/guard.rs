//! Stack guard: an MPU region without access at the bottom of the stack.
//!
//! `memory/stack.x` puts the stack at the bottom of RAM, below the static data, with its lowest
//! [`SIZE`] bytes set aside. A push into them is a MemManage fault, which escalates to HardFault.
//! The processor cannot push the HardFault's exception frame there either, so the handler in
//! `fault.rs` switches to a stack of its own and reports the overflow. `MPU_CTRL.HFNMIENA`
//! stays 0, so the MPU is off while that handler runs.
//!
//! Without the guard, an overflow on QEMU's `mps2-an386` runs below 0x2000_0000 into an
//! unimplemented region that ignores writes, and the program goes on with a corrupt stack.

use cortex_m::asm;
use cortex_m::peripheral::MPU;

/// Size of the guard region in bytes: a power of two from 32 on. Keep it equal to `GUARD_SIZE`
/// in `memory/stack.x`.
pub const SIZE: u32 = 1024;

extern "C" {
    /// Start of the guard region, from `memory/stack.x`.
    static _stack_guard: u32;
}

/// Makes the guard region inaccessible and enables the MPU with the default memory map for
/// everything else.
pub fn enable(mpu: &mut MPU) {
    const RASR_XN: u32 = 1 << 28;
    const RASR_ENABLE: u32 = 1;
    const CTRL_PRIVDEFENA: u32 = 1 << 2;
    const CTRL_ENABLE: u32 = 1;

    let base = core::ptr::addr_of!(_stack_guard) as u32;
    // AP (bits 24..27) = 0 is no access; TEX, S, C and B stay 0. SIZE encodes 2^(SIZE + 1) bytes.
    let size_field = SIZE.trailing_zeros() - 1;
    let rasr = RASR_XN | (size_field << 1) | RASR_ENABLE;

    // SAFETY: region 0 covers only the guard region, which no code may touch, and the
    // default memory map stays in force for every other address.
    unsafe {
        mpu.rnr.write(0);
        mpu.rbar.write(base);
        mpu.rasr.write(rasr);
        mpu.ctrl.write(CTRL_PRIVDEFENA | CTRL_ENABLE);
    }
    asm::dsb();
    asm::isb();
}
