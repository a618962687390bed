//! gradwell on a Cortex-M4F microcontroller.
//!
//! One board module is compiled in, chosen by a cargo feature: `qemu` (the default) for QEMU's
//! `mps2-an386` machine, or `nrf52840` for the nRF52840-DK. Each binary in `src/main.rs` and
//! `src/bin/` calls [`board::Board::init`] and then runs code that is generic over the
//! embedded-hal traits, such as [`app::run`].
//!
//! Every way a program ends goes through [`board::exit`]: a return code of 0 for success,
//! [`fault::EXIT_PANIC`] for a panic and [`fault::EXIT_HARD_FAULT`] for a HardFault, which
//! includes a stack overflow. On QEMU that is the exit status of `qemu-system-arm`.

#![no_std]

#[cfg(all(feature = "qemu", feature = "nrf52840"))]
compile_error!("features `qemu` and `nrf52840` select different boards; enable only one");

#[cfg(not(any(feature = "qemu", feature = "nrf52840")))]
compile_error!("select a board: feature `qemu` (the default) or `nrf52840`");

pub mod app;
pub mod board;
pub mod fault;
pub mod hw_sqrt;
pub mod measure;
pub mod memory;
pub mod stack;
pub mod weather_data;
pub mod weather_training;

#[cfg(feature = "qemu")]
mod guard;
#[cfg(feature = "qemu")]
mod semihosting;
#[cfg(feature = "qemu")]
mod systick;
