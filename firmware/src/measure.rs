//! Cost of a piece of code, in the board's count unit: instructions on QEMU, cycles on a real
//! board (see [`board::COUNT_UNIT`]).

use crate::board;

/// Runs `f` and returns its result with the count it took, in [`board::COUNT_UNIT`].
///
/// On QEMU the count has a resolution of 40 instructions. The two reads of the counter add
/// fewer than that: an empty closure measures 0.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let start = board::count();
    let result = f();
    let end = board::count();
    (result, end - start)
}
