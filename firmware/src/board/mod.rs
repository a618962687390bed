//! The board the firmware runs on, selected by a cargo feature.
//!
//! Each board module provides the same items:
//! - `Board`, with `init()` and the fields `led` (an embedded-hal `OutputPin`, the status LED)
//!   and `delay` (an embedded-hal `DelayNs`),
//! - `NAME`, the name used in log messages,
//! - `count()`, a monotonic count of `COUNT_UNIT` since boot,
//! - `exit(code)`, which ends the program.

#[cfg(feature = "qemu")]
mod mps2_an386;
#[cfg(feature = "qemu")]
pub use mps2_an386::*;

#[cfg(feature = "nrf52840")]
mod nrf52840;
#[cfg(feature = "nrf52840")]
pub use nrf52840::*;
