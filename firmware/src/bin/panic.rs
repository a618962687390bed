//! Panics on purpose. `cargo xtask test` checks that QEMU then exits with
//! `fault::EXIT_PANIC`, which proves that the panic path ends the run.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use gradwell_firmware::board::Board;

#[entry]
fn main() -> ! {
    let _board = Board::init();
    defmt::info!("about to panic on purpose");
    panic!("deliberate panic")
}
