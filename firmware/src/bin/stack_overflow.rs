//! Recurses until the stack overflows. `cargo xtask test` checks that QEMU then exits with
//! `fault::EXIT_HARD_FAULT`, which proves that the stack guard and the HardFault handler work.

#![no_std]
#![no_main]

use core::hint::black_box;

use cortex_m_rt::entry;
use gradwell_firmware::board::Board;
use gradwell_firmware::stack;

#[entry]
fn main() -> ! {
    let _board = Board::init();
    defmt::info!(
        "recursing until the {=usize}-byte stack overflows",
        stack::size()
    );
    let depth = recurse(black_box(0));
    defmt::panic!("the recursion returned at depth {=u32}", depth)
}

/// Uses 256 bytes of stack per level and never stops.
#[allow(
    unconditional_recursion,
    reason = "the overflow is the point of this program"
)]
#[inline(never)]
fn recurse(depth: u32) -> u32 {
    let frame = black_box([depth; 64]);
    let deeper = recurse(black_box(depth + 1));
    deeper + frame[0]
}
