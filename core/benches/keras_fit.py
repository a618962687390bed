"""Time Keras `fit` on the model of benches/training.rs, for docs/benchmarks.md.

Run from the repository root (needs tensorflow and keras 3) with:

    python3 core/benches/keras_fit.py

The model is the 10 -> 64 -> 32 ReLU trunk with two Dense(1) heads, trained with
`Adam(1e-3)` and a mean squared error per head on 3,200 random samples in batches of 32
(100 steps per epoch). TensorFlow runs on one thread. The first epoch traces the training
function, so it is left out, and the script prints the median of the next EPOCHS epochs as
samples per second. The time includes what `fit` adds around the steps (callbacks, metrics,
batching the arrays), as a Keras user sees it; the progress output is off (`verbose=0`).
"""

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ["KERAS_BACKEND"] = "tensorflow"

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

SAMPLES = 3200
BATCH = 32
EPOCHS = 5


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def main():
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(7)

    inputs = keras.Input((10,))
    shared = keras.layers.Dense(64, activation="relu")(inputs)
    shared = keras.layers.Dense(32, activation="relu")(shared)
    heads = [keras.layers.Dense(1, name=f"head{i}")(shared) for i in range(2)]
    model = keras.Model(inputs, heads)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=["mse", "mse"])

    rng = np.random.default_rng(7)
    x = rng.standard_normal((SAMPLES, 10)).astype(np.float32)
    t = rng.standard_normal((SAMPLES, 2)).astype(np.float32)
    timer = EpochTimer()
    targets = [t[:, 0:1], t[:, 1:2]]
    model.fit(x, targets, batch_size=BATCH, epochs=EPOCHS + 1, shuffle=False, verbose=0, callbacks=[timer])

    seconds = statistics.median(timer.seconds[1:])
    print(f"keras {keras.__version__}, tensorflow {tf.__version__}, 1 thread")
    step_microseconds = seconds / (SAMPLES / BATCH) * 1e6
    print(f"fit/adam_batch/{BATCH:<22} {step_microseconds:9.2f} µs per step   {SAMPLES / seconds:12,.0f} samples/s")


if __name__ == "__main__":
    main()
