//! Learning-rate schedules: a decay, optionally after a linear warm-up.
//!
//! The schedule returns a factor for step `t` (counting from 0); the learning rate is the
//! optimizer's base rate times that factor.
//!
//! | decay | factor at step `t` | PyTorch counterpart |
//! |---|---|---|
//! | [`Decay::Constant`] | `1` | none |
//! | [`Decay::Linear`] | `max(0, 1 − t/T)` | `LinearLR(start_factor=1, end_factor=0, total_iters=T)` |
//! | [`Decay::Step`] | `γ^⌊t/s⌋` | `StepLR(step_size=s, gamma=γ)` |
//! | [`Decay::Exponential`] | `γ^t` | `ExponentialLR(gamma=γ)` |
//! | [`Decay::Cosine`] | `m + (1 − m)(1 + cos(π t/T))/2`, then `m` | `CosineAnnealingLR(T_max=T, eta_min=m·lr)` |
//!
//! With `warmup_steps = W > 0`, steps `0..W` use `(t + 1)/W` and the decay starts after them
//! (step `W` is the decay's step 0).

/// The decay part of a [`Schedule`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Decay {
    /// No decay.
    #[default]
    Constant,
    /// Linear decay to zero over `steps` steps: `αₜ = α (1 − t/T)`.
    Linear {
        /// `T`, the step at which the rate reaches zero.
        steps: u32,
    },
    /// Multiply by `gamma` every `step_size` steps.
    Step {
        /// Steps between two decays.
        step_size: u32,
        /// Factor applied at each decay.
        gamma: f32,
    },
    /// Multiply by `gamma` every step.
    Exponential {
        /// Factor applied at each step.
        gamma: f32,
    },
    /// Cosine annealing from 1 to `min_factor` over `steps` steps.
    Cosine {
        /// `T`, the length of the half cosine.
        steps: u32,
        /// Factor reached at step `T` and kept after it.
        min_factor: f32,
    },
}

/// A learning-rate schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Schedule {
    /// Steps of linear warm-up before the decay starts (0 for none).
    pub warmup_steps: u32,
    /// The decay.
    pub decay: Decay,
}

impl Schedule {
    /// A constant learning rate.
    pub const CONSTANT: Self = Self {
        warmup_steps: 0,
        decay: Decay::Constant,
    };

    /// Creates a schedule with the given decay and no warm-up.
    pub const fn new(decay: Decay) -> Self {
        Self {
            warmup_steps: 0,
            decay,
        }
    }

    /// Returns the schedule with a linear warm-up of `steps` steps in front.
    pub const fn with_warmup(self, steps: u32) -> Self {
        Self {
            warmup_steps: steps,
            ..self
        }
    }

    /// Returns the factor for step `t`, counting from 0.
    pub fn factor(&self, t: u32) -> f32 {
        if t < self.warmup_steps {
            return (t + 1) as f32 / self.warmup_steps as f32;
        }
        let t = t - self.warmup_steps;
        match self.decay {
            Decay::Constant => 1.0,
            Decay::Linear { steps } => {
                if t >= steps {
                    0.0
                } else {
                    1.0 - t as f32 / steps as f32
                }
            }
            Decay::Step { step_size, gamma } => libm::powf(gamma, (t / step_size.max(1)) as f32),
            Decay::Exponential { gamma } => libm::powf(gamma, t as f32),
            Decay::Cosine { steps, min_factor } => {
                if t >= steps {
                    min_factor
                } else {
                    let phase = core::f32::consts::PI * t as f32 / steps as f32;
                    min_factor + (1.0 - min_factor) * (1.0 + libm::cosf(phase)) / 2.0
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allowed difference between a factor and its exact value.
    const FACTOR_TOLERANCE: f32 = 1e-6;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= FACTOR_TOLERANCE
    }

    #[test]
    fn linear_decay() {
        let s = Schedule::new(Decay::Linear { steps: 100 });
        assert_eq!(s.factor(0), 1.0);
        assert_eq!(s.factor(25), 0.75);
        assert_eq!(s.factor(100), 0.0);
        assert_eq!(s.factor(1000), 0.0);
    }

    #[test]
    fn step_exponential_cosine() {
        let step = Schedule::new(Decay::Step {
            step_size: 10,
            gamma: 0.5,
        });
        assert_eq!(
            (step.factor(9), step.factor(10), step.factor(25)),
            (1.0, 0.5, 0.25)
        );
        let exp = Schedule::new(Decay::Exponential { gamma: 0.9 });
        assert!(close(exp.factor(2), 0.81));
        let cos = Schedule::new(Decay::Cosine {
            steps: 10,
            min_factor: 0.1,
        });
        assert_eq!(cos.factor(0), 1.0);
        assert!(close(cos.factor(5), 0.55));
        assert!(close(cos.factor(10), 0.1));
        assert!(close(cos.factor(50), 0.1));
    }

    #[test]
    fn warmup_then_decay() {
        let s = Schedule::new(Decay::Linear { steps: 10 }).with_warmup(4);
        let factors: [f32; 6] = core::array::from_fn(|t| s.factor(t as u32));
        assert_eq!(factors, [0.25, 0.5, 0.75, 1.0, 1.0, 0.9]);
    }
}
