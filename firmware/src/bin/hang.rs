//! Never ends. `cargo xtask test` gives it a short time limit and checks that the run times
//! out, which proves that a hung program cannot stall the tests.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use gradwell_firmware::board::Board;

#[entry]
fn main() -> ! {
    let _board = Board::init();
    defmt::info!("spinning until the time limit ends this run");
    loop {
        core::hint::spin_loop();
    }
}
