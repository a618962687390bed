//! FNV-1a 64 over the bit patterns of `f32` values.
//!
//! Each value contributes the 4 bytes of `f32::to_bits` in little-endian order, so the digest
//! depends only on the bits and is the same on every target. Offset basis and prime are those
//! of FNV-1a 64 (Fowler, Noll and Vo, <http://www.isthe.com/chongo/tech/comp/fnv/>).

/// FNV-1a 64 offset basis.
const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a 64 prime.
const PRIME: u64 = 0x0000_0100_0000_01b3;

/// A running digest and count of `f32` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest {
    hash: u64,
    count: u32,
}

impl Default for Digest {
    fn default() -> Self {
        Self::new()
    }
}

impl Digest {
    /// Creates the digest of no values.
    pub const fn new() -> Self {
        Self {
            hash: OFFSET_BASIS,
            count: 0,
        }
    }

    /// Adds `values` in order.
    pub fn update(&mut self, values: &[f32]) {
        for value in values {
            for byte in value.to_bits().to_le_bytes() {
                self.hash ^= u64::from(byte);
                self.hash = self.hash.wrapping_mul(PRIME);
            }
        }
        // A case contains far fewer than 2³² values.
        self.count += values.len() as u32;
    }

    /// Returns the hash of the values added so far.
    pub const fn hash(&self) -> u64 {
        self.hash
    }

    /// Returns the number of values added so far.
    pub const fn count(&self) -> u32 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_of_nothing_is_offset_basis() {
        assert_eq!(Digest::new().hash(), OFFSET_BASIS);
        assert_eq!(Digest::new().count(), 0);
    }

    #[test]
    fn digest_matches_fnv1a_of_bytes() {
        // FNV-1a 64 of the bytes 00 00 80 3f (1.0f32), computed byte by byte.
        let mut expected = OFFSET_BASIS;
        for byte in [0x00u8, 0x00, 0x80, 0x3f] {
            expected = (expected ^ u64::from(byte)).wrapping_mul(PRIME);
        }
        let mut digest = Digest::new();
        digest.update(&[1.0]);
        assert_eq!(digest.hash(), expected);
        assert_eq!(digest.count(), 1);
    }

    #[test]
    fn digest_tells_signed_zeros_apart() {
        let mut positive = Digest::new();
        positive.update(&[0.0]);
        let mut negative = Digest::new();
        negative.update(&[-0.0]);
        assert_ne!(positive.hash(), negative.hash());
    }
}
