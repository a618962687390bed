//! The model families of the study, as types, and the objectives that train them.
//!
//! Every trunk starts with `Dense<10, W>` and has `depth` dense layers of width `W` in total
//! (the residual families wrap each layer after the first in an identity shortcut, the
//! batch-norm families follow each dense layer with a `BatchNorm<W>`). The temperature head is
//! a linear `Dense<W, 2>` for tomorrow's `temp_max` and `temp_min` under squared error.

use gradwell::loss::{BinaryCrossEntropy, Mse};
use gradwell::objective::{InvalidTarget, Objective, Task};
use gradwell::weather::INPUTS;
use gradwell::{seq, BatchNorm, Dense, MultiTask, Residual, Sequential, Sigmoid, Skip, Tanh};

use super::data::WeatherData;
use super::train::{run_seed, Glue, RunSpec};
use super::{ActivationKind, Configuration, Family, SeedRun};

/// Width of every trunk layer.
pub const WIDTH: usize = 16;

type Stem<A> = Dense<INPUTS, WIDTH, A>;
type Hidden<A> = Dense<WIDTH, WIDTH, A>;
type Norm = BatchNorm<WIDTH>;
type Head = Dense<WIDTH, 2>;
type Scalar = Dense<WIDTH, 1>;
type Skipped<L> = Residual<L, Skip<WIDTH>>;

type Rep1<L> = L;
type Rep2<L> = seq![L, L];
type Rep3<L> = seq![L, L, L];
type Rep4<L> = seq![L, L, L, L];
type Rep7<L> = Sequential<Rep3<L>, Rep4<L>>;
type Rep15<L> = Sequential<Rep7<L>, Rep4<Rep2<L>>>;

/// First quarter of a deep-supervision trunk of depth 4, 8 and 16.
type Lead1<A> = Stem<A>;
type Lead2<A> = seq![Stem<A>, Hidden<A>];
type Lead4<A> = seq![Stem<A>, Rep3<Hidden<A>>];

/// Two objectives side by side for a model whose output is a pair, such as
/// `MultiTask<T, (H, MultiTask<…>)>`: the first objective scores the pair's first element,
/// the second the rest. Task indices of the second come after those of the first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Nested<J0, J1>(pub J0, pub J1);

impl<O0: Copy, O1: Copy, J0: Objective<O0>, J1: Objective<O1>> Objective<(O0, O1)>
    for Nested<J0, J1>
{
    type Target = (J0::Target, J1::Target);
    const TASKS: usize = J0::TASKS + J1::TASKS;

    fn weights(&self, weights: &mut [f32]) {
        self.0.weights(&mut weights[..J0::TASKS]);
        self.1.weights(&mut weights[J0::TASKS..]);
    }

    fn evaluate<const B: usize>(
        &self,
        y: &[(O0, O1); B],
        targets: &[Self::Target; B],
        scales: &[f32],
        dy: &mut [(O0, O1); B],
        losses: &mut [f32],
    ) {
        let y0: [O0; B] = core::array::from_fn(|i| y[i].0);
        let y1: [O1; B] = core::array::from_fn(|i| y[i].1);
        let t0: [J0::Target; B] = core::array::from_fn(|i| targets[i].0);
        let t1: [J1::Target; B] = core::array::from_fn(|i| targets[i].1);
        let mut dy0: [O0; B] = core::array::from_fn(|i| dy[i].0);
        let mut dy1: [O1; B] = core::array::from_fn(|i| dy[i].1);

        let (losses0, losses1) = losses.split_at_mut(J0::TASKS);
        self.0
            .evaluate(&y0, &t0, &scales[..J0::TASKS], &mut dy0, losses0);
        self.1
            .evaluate(&y1, &t1, &scales[J0::TASKS..], &mut dy1, losses1);

        for (d, (d0, d1)) in dy.iter_mut().zip(dy0.into_iter().zip(dy1)) {
            *d = (d0, d1);
        }
    }

    fn invalid_target<const B: usize>(&self, targets: &[Self::Target; B]) -> Option<InvalidTarget> {
        let t0: [J0::Target; B] = core::array::from_fn(|i| targets[i].0);
        let t1: [J1::Target; B] = core::array::from_fn(|i| targets[i].1);
        self.0.invalid_target(&t0).or_else(|| {
            self.1.invalid_target(&t1).map(|invalid| InvalidTarget {
                task: invalid.task + J0::TASKS,
                ..invalid
            })
        })
    }
}

/// Objective of the single-head families: squared error on both temperatures.
type SingleObjective = Task<Mse>;
/// Objective with heads on top: temperatures, rain (cross-entropy on a logit), wind.
type HeadsObjective = (Task<Mse>, Task<BinaryCrossEntropy>, Task<Mse>);
/// Objective of deep supervision: three auxiliary temperature heads, then the final one.
type AuxObjective = Nested<Task<Mse>, Nested<Task<Mse>, Nested<Task<Mse>, Task<Mse>>>>;
type AuxOutput = ([f32; 2], ([f32; 2], ([f32; 2], [f32; 2])));

fn single_glue<M: gradwell::Layer<Output = [f32; 2]>>() -> Glue<M, SingleObjective> {
    Glue {
        objective: Task::new(Mse),
        target: |s| s.temperatures,
        temperatures: |y| *y,
        temperature_task: 0,
    }
}

fn heads_glue<M>() -> Glue<M, HeadsObjective>
where
    M: gradwell::Layer<Output = ([f32; 2], [f32; 1], [f32; 1])>,
{
    Glue {
        objective: (
            Task::new(Mse),
            Task::new(BinaryCrossEntropy),
            Task::new(Mse),
        ),
        target: |s| (Some(s.temperatures), Some([s.rain]), Some([s.wind])),
        temperatures: |y| y.0,
        temperature_task: 0,
    }
}

fn aux_glue<M: gradwell::Layer<Output = AuxOutput>>() -> Glue<M, AuxObjective> {
    let task = Task::new(Mse);
    Glue {
        objective: Nested(task, Nested(task, Nested(task, task))),
        target: |s| {
            let t = s.temperatures;
            (t, (t, (t, t)))
        },
        temperatures: |y| y.1 .1 .1,
        temperature_task: 3,
    }
}

/// Runs one family at one activation and depth. `$rest` repeats a layer `depth − 1` times,
/// `$lead` is the first quarter of the trunk and `$quarter` repeats a layer `depth / 4` times.
macro_rules! run_family {
    ($family:expr, $act:ty, $rest:ident, $lead:ident, $quarter:ident, $data:expr, $spec:expr) => {
        match $family {
            Family::Plain | Family::Exploding(_) => {
                type M = seq![Stem<$act>, $rest<Hidden<$act>>, Head];
                run_seed($data, $spec, WIDTH, &single_glue::<M>())
            }
            Family::BatchNorm => {
                type M = seq![Stem<$act>, Norm, $rest<seq![Hidden<$act>, Norm]>, Head];
                run_seed($data, $spec, WIDTH, &single_glue::<M>())
            }
            Family::Residual => {
                type M = seq![Stem<$act>, $rest<Skipped<Hidden<$act>>>, Head];
                run_seed($data, $spec, WIDTH, &single_glue::<M>())
            }
            Family::ResidualBatchNorm => {
                type M = seq![
                    Stem<$act>,
                    Norm,
                    $rest<Skipped<seq![Hidden<$act>, Norm]>>,
                    Head
                ];
                run_seed($data, $spec, WIDTH, &single_glue::<M>())
            }
            Family::HeadsOnTop => {
                type M = MultiTask<seq![Stem<$act>, $rest<Hidden<$act>>], (Head, Scalar, Scalar)>;
                run_seed($data, $spec, WIDTH, &heads_glue::<M>())
            }
            Family::AuxiliaryHeads => {
                type Q = $quarter<Hidden<$act>>;
                type M = MultiTask<
                    $lead<$act>,
                    (
                        Head,
                        MultiTask<Q, (Head, MultiTask<Q, (Head, seq![Q, Head])>)>,
                    ),
                >;
                run_seed($data, $spec, WIDTH, &aux_glue::<M>())
            }
        }
    };
}

/// Trains one configuration with one seed.
///
/// # Errors
/// When the depth is not 4, 8 or 16, or the trunk layers cannot be located.
pub fn run_configuration(
    configuration: &Configuration,
    data: &WeatherData,
    spec: &RunSpec,
) -> anyhow::Result<SeedRun> {
    let family = configuration.family;
    match (configuration.activation, configuration.depth) {
        (ActivationKind::Sigmoid, 4) => run_family!(family, Sigmoid, Rep3, Lead1, Rep1, data, spec),
        (ActivationKind::Sigmoid, 8) => run_family!(family, Sigmoid, Rep7, Lead2, Rep2, data, spec),
        (ActivationKind::Sigmoid, 16) => {
            run_family!(family, Sigmoid, Rep15, Lead4, Rep4, data, spec)
        }
        (ActivationKind::Tanh, 4) => run_family!(family, Tanh, Rep3, Lead1, Rep1, data, spec),
        (ActivationKind::Tanh, 8) => run_family!(family, Tanh, Rep7, Lead2, Rep2, data, spec),
        (ActivationKind::Tanh, 16) => run_family!(family, Tanh, Rep15, Lead4, Rep4, data, spec),
        (_, depth) => anyhow::bail!("depth {depth} is not supported; use 4, 8 or 16"),
    }
}
