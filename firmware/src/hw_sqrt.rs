//! Square roots on the Cortex-M4F's floating-point unit, and a check that they match `libm`.
//!
//! [`HwSqrt`] is a [`gradwell::Sqrt`] backend that runs the single `vsqrt.f32` instruction
//! instead of `libm`'s software square root. IEEE 754 requires `squareRoot` to be correctly
//! rounded, and with FPSCR's reset settings (round to nearest, no flush to zero) so is
//! `vsqrt.f32`, so both backends should give the same bits. [`check_against_libm`] confirms
//! that on the running machine.
//!
//! NOTE: the demo runs this check on QEMU, whose FPU is emulated in software. The nRF52840
//! image runs it too, but has not been run on a board here.

use core::arch::asm;

use gradwell::{Libm, Rng, Sqrt};

/// Square roots from the `vsqrt.f32` instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HwSqrt;

impl Sqrt for HwSqrt {
    #[inline]
    fn sqrt(x: f32) -> f32 {
        let root: u32;
        // SAFETY: the instructions only move values between core registers and `s0` and take
        // a square root. They touch no memory and no stack, and `s0` is declared clobbered.
        // Every thumbv7em-none-eabihf core has a single-precision FPU, which cortex-m-rt
        // enables before `main`.
        //
        // The operands go through core registers because Rust accepts the `sreg` register
        // class only with the `vfp2` target feature, which this single-precision target lacks.
        unsafe {
            asm!(
                "vmov s0, {x}",
                "vsqrt.f32 s0, s0",
                "vmov {root}, s0",
                x = in(reg) x.to_bits(),
                root = lateout(reg) root,
                out("s0") _,
                options(pure, nomem, nostack),
            );
        }
        f32::from_bits(root)
    }
}

/// Inputs that every comparison covers: zeros, subnormals, the smallest and largest normal
/// numbers, small integers, powers of two on both sides of 1 and infinity.
pub const EDGE_CASES: [f32; 16] = [
    0.0,
    -0.0,
    f32::from_bits(0x0000_0001),
    f32::from_bits(0x0000_0002),
    f32::from_bits(0x0040_0000),
    f32::from_bits(0x007f_ffff),
    f32::MIN_POSITIVE,
    f32::EPSILON,
    0.25,
    1.0,
    2.0,
    3.0,
    1.0e20,
    16_777_216.0,
    f32::MAX,
    f32::INFINITY,
];

/// The first input where [`HwSqrt`] and [`Libm`] differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub struct Mismatch {
    /// Bits of the input.
    pub input: u32,
    /// Bits of the `vsqrt.f32` result.
    pub hardware: u32,
    /// Bits of the `libm` result.
    pub libm: u32,
}

/// Compares [`HwSqrt`] with [`Libm`] on [`EDGE_CASES`] and on `random` positive finite bit
/// patterns drawn from `seed`. Returns the number of inputs compared.
///
/// # Errors
/// The first [`Mismatch`].
pub fn check_against_libm(random: u32, seed: u64) -> Result<u32, Mismatch> {
    let compare = |x: f32| {
        let hardware = HwSqrt::sqrt(core::hint::black_box(x)).to_bits();
        let libm = Libm::sqrt(core::hint::black_box(x)).to_bits();
        if hardware == libm {
            Ok(())
        } else {
            Err(Mismatch {
                input: x.to_bits(),
                hardware,
                libm,
            })
        }
    };

    for x in EDGE_CASES {
        compare(x)?;
    }

    // A positive finite f32 has the sign bit clear and an exponent below 0xff, so its bits are
    // below 0x7f80_0000; `below` draws them uniformly, which covers every binade equally often.
    let mut rng = Rng::new(seed);
    for _ in 0..random {
        compare(f32::from_bits(rng.below(0x7f80_0000)))?;
    }
    Ok(EDGE_CASES.len() as u32 + random)
}
