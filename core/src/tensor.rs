//! Fixed-size buffers: zero construction and a walk over every `f32` they contain.
//!
//! Gradients, optimizer moments and activation caches are nested arrays, tuples and small
//! structs. [`Zeroed`] builds any of them filled with zeros, and [`Tensors`] visits their
//! contents as flat slices in one fixed order, which is how clipping, norms and the optimizers
//! reach every value without knowing the model's shape.

/// A value that can be built with every `f32` in it set to zero.
pub trait Zeroed: Sized {
    /// Returns the value with every number set to zero.
    fn zeroed() -> Self;
}

/// A fixed set of `f32` tensors, visited as flat slices in a fixed order.
pub trait Tensors: Zeroed + Clone {
    /// Number of `f32` values in the set.
    const LEN: usize;

    /// Calls `f` on each tensor, in order.
    fn for_each(&self, f: &mut dyn FnMut(&[f32]));

    /// Calls `f` on each tensor, in order, for writing.
    fn for_each_mut(&mut self, f: &mut dyn FnMut(&mut [f32]));

    /// Sets every value to zero.
    fn fill_zero(&mut self) {
        self.for_each_mut(&mut |t| t.fill(0.0));
    }

    /// Returns the sum of squares of all values, accumulated in `f64` in visiting order.
    fn sum_squares(&self) -> f64 {
        let mut sum = 0.0f64;
        self.for_each(&mut |t| {
            for &v in t {
                sum += f64::from(v) * f64::from(v);
            }
        });
        sum
    }

    /// Returns `true` when every value is finite.
    fn all_finite(&self) -> bool {
        let mut finite = true;
        self.for_each(&mut |t| finite &= t.iter().all(|v| v.is_finite()));
        finite
    }
}

impl Zeroed for f32 {
    fn zeroed() -> Self {
        0.0
    }
}

impl Zeroed for u32 {
    fn zeroed() -> Self {
        0
    }
}

impl Zeroed for bool {
    fn zeroed() -> Self {
        false
    }
}

impl Zeroed for () {
    fn zeroed() -> Self {}
}

impl<T: Zeroed, const N: usize> Zeroed for [T; N] {
    fn zeroed() -> Self {
        core::array::from_fn(|_| T::zeroed())
    }
}

impl Tensors for () {
    const LEN: usize = 0;
    fn for_each(&self, _f: &mut dyn FnMut(&[f32])) {}
    fn for_each_mut(&mut self, _f: &mut dyn FnMut(&mut [f32])) {}
}

impl<const N: usize> Tensors for [f32; N] {
    const LEN: usize = N;
    fn for_each(&self, f: &mut dyn FnMut(&[f32])) {
        f(self);
    }
    fn for_each_mut(&mut self, f: &mut dyn FnMut(&mut [f32])) {
        f(self);
    }
}

impl<T: Tensors, const N: usize> Tensors for [T; N] {
    const LEN: usize = T::LEN * N;
    fn for_each(&self, f: &mut dyn FnMut(&[f32])) {
        self.iter().for_each(|t| t.for_each(f));
    }
    fn for_each_mut(&mut self, f: &mut dyn FnMut(&mut [f32])) {
        self.iter_mut().for_each(|t| t.for_each_mut(f));
    }
}

macro_rules! tuple_impls {
    ($($name:ident $index:tt),+) => {
        impl<$($name: Zeroed),+> Zeroed for ($($name,)+) {
            fn zeroed() -> Self {
                ($($name::zeroed(),)+)
            }
        }

        impl<$($name: Tensors),+> Tensors for ($($name,)+) {
            const LEN: usize = 0 $(+ $name::LEN)+;
            fn for_each(&self, f: &mut dyn FnMut(&[f32])) {
                $(self.$index.for_each(f);)+
            }
            fn for_each_mut(&mut self, f: &mut dyn FnMut(&mut [f32])) {
                $(self.$index.for_each_mut(f);)+
            }
        }
    };
}

tuple_impls!(A 0);
tuple_impls!(A 0, B 1);
tuple_impls!(A 0, B 1, C 2);
tuple_impls!(A 0, B 1, C 2, D 3);
tuple_impls!(A 0, B 1, C 2, D 3, E 4);
tuple_impls!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_impls!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_impls!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuple_visits_in_order() {
        let mut t: ([f32; 2], ([[f32; 2]; 2], [f32; 1])) = Zeroed::zeroed();
        let mut next = 0.0;
        t.for_each_mut(&mut |s| {
            for v in s {
                next += 1.0;
                *v = next;
            }
        });
        assert_eq!(t.0, [1.0, 2.0]);
        assert_eq!(t.1 .0, [[3.0, 4.0], [5.0, 6.0]]);
        assert_eq!(t.1 .1, [7.0]);
        assert_eq!(<([f32; 2], ([[f32; 2]; 2], [f32; 1]))>::LEN, 7);
    }

    #[test]
    fn sum_squares_and_finite() {
        let mut t: [f32; 3] = [1.0, -2.0, 2.0];
        assert_eq!(t.sum_squares(), 9.0);
        assert!(t.all_finite());
        t[1] = f32::NAN;
        assert!(!t.all_finite());
    }
}
