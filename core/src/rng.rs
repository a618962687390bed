//! A small seeded random generator that gives the same numbers on every target.
//!
//! [`Rng`] is PCG32 (O'Neill, "PCG: A Family of Simple Fast Space-Efficient Statistically Good
//! Algorithms for Random Number Generation", 2014; the `pcg32` variant XSH-RR 64/32). It uses
//! only integer arithmetic, and floats are built from the top 24 bits, so a seed gives the same
//! weights on x86-64 and on a Cortex-M.

/// PCG32 random number generator.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rng {
    state: u64,
    increment: u64,
}

const MULTIPLIER: u64 = 6_364_136_223_846_793_005;

impl Rng {
    /// Creates a generator from a seed, on the default stream.
    pub fn new(seed: u64) -> Self {
        Self::with_stream(seed, 0xda3e_39cb_94b9_5bdb)
    }

    /// Creates a generator from a seed and a stream selector.
    pub fn with_stream(seed: u64, stream: u64) -> Self {
        let mut rng = Self {
            state: 0,
            increment: (stream << 1) | 1,
        };
        rng.next_u32();
        rng.state = rng.state.wrapping_add(seed);
        rng.next_u32();
        rng
    }

    /// Returns the next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(MULTIPLIER).wrapping_add(self.increment);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rotation = (old >> 59) as u32;
        xorshifted.rotate_right(rotation)
    }

    /// Returns a float uniformly distributed in `[0, 1)`, with 24 random bits.
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }

    /// Returns a float uniformly distributed in `[low, high)`.
    pub fn uniform(&mut self, low: f32, high: f32) -> f32 {
        low + (high - low) * self.next_f32()
    }

    /// Returns an index uniformly distributed in `0..n`; `n` must not be zero.
    pub fn below(&mut self, n: u32) -> u32 {
        // Lemire's multiply-shift; the tiny bias is irrelevant for shuffling data.
        ((u64::from(self.next_u32()) * u64::from(n)) >> 32) as u32
    }

    /// Shuffles `items` in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u32 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.next_u32(), b.next_u32());
        }
        assert_ne!(Rng::new(1).next_u32(), Rng::new(2).next_u32());
    }

    #[test]
    fn pcg32_reference_sequence() {
        // pcg32_srandom(42, 54) from the PCG reference implementation (pcg32-demo).
        let mut rng = Rng::with_stream(42, 54);
        let expected = [
            0xa15c_02b7,
            0x7b47_f409,
            0xba1d_3330,
            0x83d2_f293,
            0xbfa4_784b,
            0xcbed_606e,
        ];
        for e in expected {
            assert_eq!(rng.next_u32(), e);
        }
    }

    #[test]
    fn uniform_stays_in_range() {
        let mut rng = Rng::new(7);
        let mut low_seen = f32::MAX;
        let mut high_seen = f32::MIN;
        for _ in 0..10_000 {
            let v = rng.uniform(-0.5, 0.5);
            assert!((-0.5..0.5).contains(&v));
            low_seen = low_seen.min(v);
            high_seen = high_seen.max(v);
        }
        assert!(low_seen < -0.49);
        assert!(high_seen > 0.49);
    }
}
