//! Resuming training from a checkpoint file gives the very same model as never stopping: the
//! checkpoint carries the parameters, Adam's moments, the step count (which Adam's bias
//! correction uses) and the input scaling.

use gradwell::checkpoint::{self, Extras, ExtrasMut, Scaling, ScalingMut};
use gradwell::{build, weather, Adam, Init, Standardizer, Tensors, Trainer, Zeroed};
use gradwell_host::checkpoint::{load_checkpoint, save_model};

const BATCH: usize = 8;
const STEPS_BEFORE_SAVE: usize = 5;
const STEPS_AFTER_SAVE: usize = 5;

type WeatherTrainer = Trainer<weather::Model, Adam, BATCH>;

/// Returns batch `index` of a deterministic synthetic data set.
fn batch(index: usize) -> ([[f32; weather::INPUTS]; BATCH], [weather::Targets; BATCH]) {
    let x = core::array::from_fn(|sample| {
        core::array::from_fn(|feature| {
            let k = (index * BATCH + sample) * weather::INPUTS + feature;
            ((k * 37 % 101) as f32 / 50.0) - 1.0
        })
    });
    let targets = core::array::from_fn(|sample| {
        let k = (index * BATCH + sample) as f32;
        let rain = if (index + sample) % 3 == 0 { 1.0 } else { 0.0 };
        (Some([k / 10.0]), Some([-k / 20.0]), Some([rain]))
    });
    (x, targets)
}

fn train(
    model: &mut weather::Model,
    trainer: &mut WeatherTrainer,
    batches: core::ops::Range<usize>,
) {
    let objective = weather::objective();
    for index in batches {
        let (x, targets) = batch(index);
        trainer.step(model, &x, &targets, &objective).unwrap();
    }
}

fn model_bytes(model: &weather::Model) -> Vec<u8> {
    let mut bytes = vec![0u8; checkpoint::encoded_len::<weather::Model>(0, 0)];
    checkpoint::encode(model, &Extras::default(), &mut bytes).unwrap();
    bytes
}

#[test]
fn resumed_training_matches_uninterrupted() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("resume.gwck");
    let scaler = Standardizer::<{ weather::INPUTS }> {
        mean: core::array::from_fn(|i| i as f32),
        std: core::array::from_fn(|i| 1.0 + i as f32 / 4.0),
    };

    let mut model: weather::Model = build(Init::PyTorch, 42);
    let mut trainer = WeatherTrainer::new(Adam::pytorch(1e-3));
    train(&mut model, &mut trainer, 0..STEPS_BEFORE_SAVE);
    let extras = Extras {
        optimizer_state: Some(&trainer.state),
        step: Some(trainer.step),
        scaling: Some(Scaling::from_standardizer(&scaler)),
    };
    save_model(&path, &model, &extras).unwrap();

    // With Adam's two moments and 10 scaled features: 32 + 4 · (3 · 2883 + 20) + 4 bytes.
    let bytes = load_checkpoint(&path).unwrap();
    assert_eq!(bytes.len(), 34_712);
    assert_eq!(
        <(
            <weather::Model as gradwell::Layer>::Grads,
            <weather::Model as gradwell::Layer>::Grads
        )>::LEN,
        2 * 2883
    );

    // A fresh model and trainer, restored from the file.
    let mut resumed_model = weather::Model::zeroed();
    let mut resumed = WeatherTrainer::new(Adam::pytorch(1e-3));
    let mut resumed_scaler = Standardizer::<{ weather::INPUTS }>::IDENTITY;
    let info = checkpoint::decode(
        &bytes,
        &mut resumed_model,
        &mut ExtrasMut {
            optimizer_state: Some(&mut resumed.state),
            step: Some(&mut resumed.step),
            scaling: Some(ScalingMut::from_standardizer(&mut resumed_scaler)),
        },
    )
    .unwrap();
    assert_eq!(info.step, Some(STEPS_BEFORE_SAVE as u32));
    assert_eq!(resumed.step, STEPS_BEFORE_SAVE as u32);
    assert_eq!(resumed_scaler, scaler);
    assert_eq!(model_bytes(&resumed_model), model_bytes(&model));

    let remaining = STEPS_BEFORE_SAVE..STEPS_BEFORE_SAVE + STEPS_AFTER_SAVE;
    train(&mut model, &mut trainer, remaining.clone());
    train(&mut resumed_model, &mut resumed, remaining);
    assert_eq!(resumed.step, trainer.step);
    assert_eq!(model_bytes(&resumed_model), model_bytes(&model));
}
