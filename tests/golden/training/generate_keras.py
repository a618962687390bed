"""Write keras.json: a Keras training run for whole-training parity with gradwell.

Regenerate from the repository root (needs tensorflow and keras 3) after generate.py, whose
batches.json this script reads:

    python3 tests/golden/training/generate_keras.py

The run `adam_batch_norm` trains

    keras.Sequential([Dense(32, "tanh"), BatchNormalization(), Dense(2)])

on the first 50 batches of batches.json with `keras.optimizers.Adam(1e-3)` (epsilon 1e-7) and
`keras.losses.MeanSquaredError()` over both outputs, in an eager GradientTape loop.
Batch normalisation keeps Keras's defaults: momentum 0.99, epsilon 1e-3, and the biased batch
variance in `moving_variance`. The weights start from Keras's defaults under a fixed seed:
Glorot-uniform kernels, zero biases, `gamma = 1`, `beta = 0`, moving mean 0 and variance 1.

The file contains the initial weights, the weights every 10 steps and each step's loss and global
gradient norm, computed in float64 from the float32 gradients before the update. The
weights are stored under gradwell's names and layout: a Keras kernel `[in, out]` becomes the
weight `[out, in]`, `gamma`/`beta`/`moving_mean`/`moving_variance` become
`weight`/`bias`/`running_mean`/`running_var`. Each tensor is flattened row-major, and every
number is the shortest decimal that reads back as the same float32.

The first layer uses tanh, not ReLU. A ReLU unit that is active on every sample of a batch is
linear there, and batch normalisation removes any shift of its input, so the gradient of that
unit's bias is exactly zero and both frameworks return only rounding noise. Adam divides by
`√v + ε` with ε = 1e-7, which turns noise of that size into updates of up to the learning rate:
with ReLU, 3 of 32 units are active on every sample of the first batch, and their biases end up
6e-5 apart between Keras and gradwell while every other weight agrees to within 1e-6. The
PyTorch run `sgd_residual_batch_norm` uses tanh before batch normalisation for the same reason.

TensorFlow runs on one CPU thread with deterministic ops, so two runs with the same versions
write the same file.
"""

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ["KERAS_BACKEND"] = "tensorflow"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from golden_json import write_json  # noqa: E402

SEED = 20261204
HERE = Path(__file__).resolve().parent
BATCHES = HERE / "batches.json"
OUTPUT = HERE / "keras.json"
STEPS = 50
SNAPSHOT_EVERY = 10


def weights(model):
    """Return every weight by gradwell name, in gradwell's layout, flattened."""
    dense0, batch_norm, dense1 = model.layers
    tensors = {
        "0.weight": dense0.kernel.numpy().T,
        "0.bias": dense0.bias.numpy(),
        "1.weight": batch_norm.gamma.numpy(),
        "1.bias": batch_norm.beta.numpy(),
        "1.running_mean": batch_norm.moving_mean.numpy(),
        "1.running_var": batch_norm.moving_variance.numpy(),
        "2.weight": dense1.kernel.numpy().T,
        "2.bias": dense1.bias.numpy(),
    }
    return {name: np.ascontiguousarray(value, dtype=np.float32).ravel() for name, value in tensors.items()}


def adam_batch_norm(batches):
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input((10,)),
            keras.layers.Dense(32, activation="tanh"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(2),
        ]
    )
    batch_norm = model.layers[1]
    assert batch_norm.momentum == 0.99
    assert batch_norm.epsilon == 1e-3
    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    assert optimizer.epsilon == 1e-7
    loss_function = keras.losses.MeanSquaredError()

    record = {
        "name": "adam_batch_norm",
        "description": "Dense(32, tanh), BatchNormalization(), Dense(2); Adam(1e-3); MeanSquaredError",
        "steps": STEPS,
        "initial": weights(model),
        "snapshots": [],
        "task_losses": [],
        "grad_norms": [],
    }
    for step in range(STEPS):
        x = tf.constant(np.array(batches["inputs"][step], dtype=np.float32))
        t = tf.constant(np.array(batches["targets"][step], dtype=np.float32))

        with tf.GradientTape() as tape:
            y = model(x, training=True)
            loss = loss_function(t, y)
        grads = tape.gradient(loss, model.trainable_variables)
        norm = np.sqrt(sum(np.sum(g.numpy().astype(np.float64) ** 2) for g in grads))
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

        record["task_losses"].append([np.float32(loss.numpy())])
        record["grad_norms"].append(np.float32(norm))
        if (step + 1) % SNAPSHOT_EVERY == 0:
            record["snapshots"].append({"step": step + 1, "tensors": weights(model)})
    record["task_losses"] = np.array(record["task_losses"], dtype=np.float32)
    record["grad_norms"] = np.array(record["grad_norms"], dtype=np.float32)
    return record


def main():
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()

    batches = json.loads(BATCHES.read_text())
    run = adam_batch_norm(batches)
    write_json(
        OUTPUT,
        {
            "generator": "tests/golden/training/generate_keras.py",
            "keras_version": keras.__version__,
            "tensorflow_version": tf.__version__,
            "seed": SEED,
            "batches": "batches.json",
            "snapshot_every": SNAPSHOT_EVERY,
            "runs": [run],
        },
    )


if __name__ == "__main__":
    main()
