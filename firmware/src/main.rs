//! The demo: boots, reports the memory use, runs [`app::run`] and exits with status 0, or with
//! [`EXIT_DEMO_FAILED`] when the demo fails a check.

#![no_std]
#![no_main]

use cortex_m_rt::entry;
use gradwell_firmware::board::{self, Board};
use gradwell_firmware::{app, memory, stack};

/// Exit code when [`app::run`] fails, for example when the trained model does not beat
/// "tomorrow equals today".
const EXIT_DEMO_FAILED: u8 = 1;

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

    let result = app::run(&mut board.led, &mut board.delay);

    let peak_stack = stack::peak_use();
    defmt::info!("peak stack use: {=usize} bytes", peak_stack);
    defmt::info!("metric flash_bytes={=usize}", footprint.flash);
    defmt::info!("metric static_ram_bytes={=usize}", footprint.static_ram);
    defmt::info!("metric peak_stack_bytes={=usize}", peak_stack);

    match result {
        Ok(()) => {
            defmt::info!("gradwell firmware: done");
            board::exit(0)
        }
        Err(error) => {
            defmt::error!("gradwell firmware: {}", error);
            board::exit(EXIT_DEMO_FAILED)
        }
    }
}
