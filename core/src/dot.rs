//! The dot product behind every dense layer, in one fixed summation order.
//!
//! Floating-point addition is not associative, so the order of a sum decides its bits. [`dot`]
//! keeps eight independent partial sums (lane `k` takes the products at indices `k`, `k + 8`,
//! …), combines them pairwise as `((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))`, and then
//! adds the leftover products one by one. Rust never fuses a multiply and an add unless asked,
//! so this order, and with it the result, is the same on x86-64 and on a Cortex-M. The eight
//! lanes are independent, which lets the compiler keep them in vector registers on the desktop.

/// Number of independent partial sums in [`dot`].
pub const LANES: usize = 8;

/// Returns `Σ a[i]·b[i]` over the shorter of the two slices, in the fixed order described in
/// the module documentation.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);

    let mut lanes = [0.0f32; LANES];
    let a_chunks = a.chunks_exact(LANES);
    let b_chunks = b.chunks_exact(LANES);
    let (a_rest, b_rest) = (a_chunks.remainder(), b_chunks.remainder());
    for (ca, cb) in a_chunks.zip(b_chunks) {
        for k in 0..LANES {
            lanes[k] += ca[k] * cb[k];
        }
    }

    let mut sum = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
        + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_of_short_and_long_vectors() {
        assert_eq!(dot(&[], &[]), 0.0);
        assert_eq!(dot(&[2.0], &[3.0]), 6.0);
        let a: [f32; 19] = core::array::from_fn(|i| i as f32);
        let b = [1.0f32; 19];
        assert_eq!(dot(&a, &b), 171.0);
    }

    #[test]
    fn dot_follows_documented_order() {
        // Values chosen so that another summation order gives other bits.
        let a: [f32; 11] = [1e8, 1.0, -1e8, 1.0, 0.5, 3.0, 1e-3, 7.0, 1.0, 2.0, 1e7];
        let b = [1.0f32; 11];
        let l: [f32; 8] = core::array::from_fn(|k| a[k]);
        let expected = ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
        let expected = ((expected + a[8]) + a[9]) + a[10];
        assert_eq!(dot(&a, &b).to_bits(), expected.to_bits());
        let naive: f32 = a.iter().sum();
        assert_ne!(naive.to_bits(), expected.to_bits());
    }
}
