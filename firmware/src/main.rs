//! The demo: boots, reports the memory use, runs [`app::run`] and exits with status 0.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use gradwell_firmware::board::{self, Board};
use gradwell_firmware::{app, memory, stack};

#[entry]
fn main() -> ! {
    let mut board = Board::init();
    defmt::info!("gradwell firmware: booted on {=str}", board::NAME);

    let footprint = memory::footprint();
    defmt::info!(
        "memory map {=str}: flash {=usize} bytes, static RAM {=usize} bytes, stack {=usize} bytes",
        memory::MAP,
        footprint.flash,
        footprint.static_ram,
        footprint.stack,
    );

    if app::run(&mut board.led, &mut board.delay).is_err() {
        defmt::panic!("the status LED failed");
    }

    defmt::info!("peak stack use: {=usize} bytes", stack::peak_use());
    defmt::info!("gradwell firmware: done");
    board::exit(0)
}
