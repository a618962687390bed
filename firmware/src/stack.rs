//! Stack size and peak stack use.
//!
//! With its `paint-stack` feature, cortex-m-rt fills the stack with [`PAINT`] at reset. The
//! stack grows down, so the lowest word that no longer contains the paint marks the deepest point
//! the stack has reached.

use cortex_m_rt::STACK_PAINT_VALUE as PAINT;

extern "C" {
    /// Top of the stack (its highest address), from cortex-m-rt's `link.x` or `memory/stack.x`.
    static _stack_start: u32;
    /// Bottom of the stack (its lowest usable address).
    static _stack_end: u32;
}

/// Returns the lowest usable stack address.
pub fn bottom() -> usize {
    core::ptr::addr_of!(_stack_end) as usize
}

/// Returns the stack size in bytes.
pub fn size() -> usize {
    core::ptr::addr_of!(_stack_start) as usize - bottom()
}

/// Returns the most stack used since reset, or since the last [`repaint`], in bytes.
pub fn peak_use() -> usize {
    let mut address = bottom();
    let top = bottom() + size();
    while address < top {
        // SAFETY: the address is an aligned word inside the stack region.
        let word = unsafe { (address as *const u32).read_volatile() };
        if word != PAINT {
            break;
        }
        address += 4;
    }
    top - address
}

/// Paints the unused part of the stack again, so that [`peak_use`] measures from here on.
#[inline(never)]
pub fn repaint() {
    // Leaves the words just below the stack pointer alone: this function's own frame is above
    // it, but the compiler may still spill below it before the loop starts.
    const MARGIN: usize = 64;
    let stack_pointer = cortex_m::register::msp::read() as usize;
    let mut address = bottom();
    while address < stack_pointer - MARGIN {
        // SAFETY: the address is an aligned word of the stack below the stack pointer, which
        // no live frame uses. An interrupt that pushes its frame there finishes before the
        // loop continues, so the frame is not in use when it is painted over.
        unsafe { (address as *mut u32).write_volatile(PAINT) };
        address += 4;
    }
}
