//! Flash and RAM use of the linked image, from the symbols of cortex-m-rt's `link.x`.

use crate::stack;

/// Name of the memory map the image is linked against: a file in `memory/` without its `.x`.
pub const MAP: &str = env!("GRADWELL_MEMORY_MAP");

extern "C" {
    static __vector_table: u32;
    static __sdata: u32;
    static __edata: u32;
    static __sidata: u32;
    static __euninit: u32;
}

/// Memory use of the linked image, in bytes.
#[derive(Clone, Copy, Debug, defmt::Format)]
pub struct Footprint {
    /// Flash: the vector table, code, read-only data and the initial values of `.data`.
    pub flash: usize,
    /// RAM for statics: `.data`, `.bss` and `.uninit`.
    pub static_ram: usize,
    /// RAM for the stack.
    pub stack: usize,
}

/// Returns the memory use of the running image.
pub fn footprint() -> Footprint {
    let address = |symbol: *const u32| symbol as usize;

    let flash_start = address(core::ptr::addr_of!(__vector_table));
    let data_size = address(core::ptr::addr_of!(__edata)) - address(core::ptr::addr_of!(__sdata));
    let flash_end = address(core::ptr::addr_of!(__sidata)) + data_size;
    let static_ram =
        address(core::ptr::addr_of!(__euninit)) - address(core::ptr::addr_of!(__sdata));

    Footprint {
        flash: flash_end - flash_start,
        static_ram,
        stack: stack::size(),
    }
}
