"""Write the golden data for whole-training parity with PyTorch: batches.json and pytorch.json.

Regenerate from the repository root (needs torch and numpy) with:

    python3 tests/golden/training/generate.py
    python3 tests/golden/training/generate_keras.py

The second script reads batches.json, so run this one first.

batches.json contains 100 batches of 32 samples from data/seattle-weather.csv, already scaled, so
the Rust tests feed gradwell exactly the float32 values PyTorch and Keras trained on:

- inputs, as `gradwell::weather::inputs` builds them: today's and yesterday's precipitation,
  temp_max, temp_min and wind, then the sine and cosine of `2π · day / 365.25` for tomorrow's
  day of the year (computed here in float64);
- targets: tomorrow's temp_max and temp_min;
- a sample belongs to the training split when tomorrow is in 2012-2014. Inputs and targets
  are z-scores with the training split's mean and population standard deviation, computed in
  float64 from the float32 readings; the scaled values are rounded to float32 once;
- batch k holds training samples 32k to 32k + 31 in file order, wrapping around at the end of
  the split (no shuffling).

pytorch.json contains two runs, each with its initial parameters (PyTorch's default
initialisation under a fixed seed), the parameters and batch-norm running statistics every 10
steps, and every step's task losses and global gradient norm before clipping:

- `adam_multi_task`: Linear(10, 64)-ReLU-Linear(64, 32)-ReLU trunk, two Linear(32, 1) heads,
  `torch.optim.Adam(lr=1e-3)`, loss `mse(head0, t0) + mse(head1, t1)` with PyTorch's mean
  reduction, 100 steps;
- `sgd_residual_batch_norm`: Linear(10, 32)-ReLU, two residual blocks
  `x + Linear(32, 32)(BatchNorm1d(32)(tanh(Linear(32, 32)(x))))`, Linear(32, 2);
  `torch.optim.SGD(lr=0.05, momentum=0.9)`, `clip_grad_norm_(max_norm=1.0)`, learning rate
  `0.05 · (1 − t/100)` at step t counting from 0 (`LambdaLR`), loss `mse(y, t)` over both
  outputs, 100 steps.

Tensor names and layouts are gradwell's (PyTorch `state_dict` names without
`num_batches_tracked`; a dense weight is `[out, in]`), each tensor flattened in row-major
order. Every number is the shortest decimal that reads back as the same float32.

The runs use float32 on one CPU thread with deterministic algorithms, so two runs with the
same torch version write the same files.
"""

import csv
import datetime
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from golden_json import write_json

SEED = 20261204
HERE = Path(__file__).resolve().parent
DATA = HERE.parents[2] / "data" / "seattle-weather.csv"
BATCHES = HERE / "batches.json"
OUTPUT = HERE / "pytorch.json"

STEPS = 100
BATCH = 32
SNAPSHOT_EVERY = 10
TRAIN_LAST_YEAR = 2014


class Dense(nn.Linear):
    """Linear layer and activation in one module, so the names match gradwell's `Dense`."""

    def __init__(self, in_features, out_features, activation=None):
        super().__init__(in_features, out_features)
        self.activation = activation

    def forward(self, x):
        y = super().forward(x)
        return y if self.activation is None else self.activation(y)


class Residual(nn.Module):
    """`x + f(x)`, gradwell's `Residual<F, Skip<N>>`."""

    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return x + self.f(x)


class MultiTask(nn.Module):
    """A shared trunk and a list of heads, gradwell's `MultiTask`."""

    def __init__(self, trunk, heads):
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleList(heads)

    def forward(self, x):
        shared = self.trunk(x)
        return [head(shared) for head in self.heads]


def read_days():
    """Return (date, precipitation, temp_max, temp_min, wind) per row, readings as float32."""
    days = []
    with DATA.open(newline="") as file:
        for row in csv.DictReader(file):
            date = datetime.date.fromisoformat(row["date"])
            readings = [np.float32(row[key]) for key in ("precipitation", "temp_max", "temp_min", "wind")]
            days.append((date, *readings))
    return days


def training_samples(days):
    """Return the unscaled inputs [n, 10] and targets [n, 2] of the training split, as float32."""
    inputs, targets = [], []
    for yesterday, today, tomorrow in zip(days, days[1:], days[2:]):
        if tomorrow[0].year > TRAIN_LAST_YEAR:
            continue
        angle = 2.0 * math.pi * tomorrow[0].timetuple().tm_yday / 365.25
        inputs.append([*today[1:], *yesterday[1:], np.float32(math.sin(angle)), np.float32(math.cos(angle))])
        targets.append([tomorrow[2], tomorrow[3]])
    return np.array(inputs, dtype=np.float32), np.array(targets, dtype=np.float32)


def standardize(values):
    """Return z-scores (float32) and the float64 mean and population standard deviation."""
    wide = values.astype(np.float64)
    mean = wide.mean(axis=0)
    std = wide.std(axis=0)
    return ((wide - mean) / std).astype(np.float32), mean, std


def make_batches():
    inputs, targets = training_samples(read_days())
    scaled_inputs, input_mean, input_std = standardize(inputs)
    scaled_targets, target_mean, target_std = standardize(targets)
    order = np.arange(STEPS * BATCH) % len(inputs)
    return {
        "generator": "tests/golden/training/generate.py",
        "source": "data/seattle-weather.csv",
        "training_samples": len(inputs),
        "input_mean": input_mean.astype(np.float32),
        "input_std": input_std.astype(np.float32),
        "target_mean": target_mean.astype(np.float32),
        "target_std": target_std.astype(np.float32),
        "inputs": scaled_inputs[order].reshape(STEPS, BATCH, 10),
        "targets": scaled_targets[order].reshape(STEPS, BATCH, 2),
    }


def stored_tensors(model):
    """Return every parameter and buffer by gradwell name, flattened."""
    return {
        name: tensor.detach().numpy().astype(np.float32).ravel().copy()
        for name, tensor in model.state_dict().items()
        if not name.endswith("num_batches_tracked")
    }


def total_norm(parameters):
    """Return the global L2 norm of the gradients, as `clip_grad_norm_` computes it."""
    return torch.nn.utils.get_total_norm([p.grad for p in parameters]).item()


def train(model, optimizer, losses, batches, *, scheduler=None, max_norm=None):
    """Train for STEPS steps and return the run's record (without its name and description)."""
    parameters = list(model.parameters())
    record = {
        "steps": STEPS,
        "initial": stored_tensors(model),
        "snapshots": [],
        "task_losses": [],
        "grad_norms": [],
    }
    model.train()
    for step in range(STEPS):
        x = torch.from_numpy(batches["inputs"][step])
        t = torch.from_numpy(batches["targets"][step])

        optimizer.zero_grad(set_to_none=True)
        task_losses = losses(model(x), t)
        sum(task_losses).backward()

        if max_norm is None:
            norm = total_norm(parameters)
        else:
            norm = torch.nn.utils.clip_grad_norm_(parameters, max_norm).item()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()

        record["task_losses"].append(np.array([loss.item() for loss in task_losses], dtype=np.float32))
        record["grad_norms"].append(np.float32(norm))
        if (step + 1) % SNAPSHOT_EVERY == 0:
            record["snapshots"].append({"step": step + 1, "tensors": stored_tensors(model)})
    record["task_losses"] = np.array(record["task_losses"], dtype=np.float32)
    record["grad_norms"] = np.array(record["grad_norms"], dtype=np.float32)
    return record


def adam_multi_task(batches):
    torch.manual_seed(SEED)
    trunk = nn.Sequential(Dense(10, 64, nn.ReLU()), Dense(64, 32, nn.ReLU()))
    heads = [nn.Sequential(Dense(32, 1)), nn.Sequential(Dense(32, 1))]
    model = nn.Sequential(MultiTask(trunk, heads))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def losses(outputs, t):
        return [F.mse_loss(outputs[0], t[:, 0:1]), F.mse_loss(outputs[1], t[:, 1:2])]

    record = train(model, optimizer, losses, batches)
    return {
        "name": "adam_multi_task",
        "description": "10-64-32 ReLU trunk, two Linear(32, 1) heads; Adam(lr=1e-3); mse per head, summed",
        **record,
    }


def block():
    return Residual(nn.Sequential(Dense(32, 32, nn.Tanh()), nn.BatchNorm1d(32), Dense(32, 32)))


def sgd_residual_batch_norm(batches):
    torch.manual_seed(SEED + 1)
    model = nn.Sequential(Dense(10, 32, nn.ReLU()), block(), block(), Dense(32, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1.0 - t / STEPS)

    def losses(y, t):
        return [F.mse_loss(y, t)]

    record = train(model, optimizer, losses, batches, scheduler=scheduler, max_norm=1.0)
    return {
        "name": "sgd_residual_batch_norm",
        "description": "Linear(10, 32)-ReLU, 2 x residual [Linear-Tanh, BatchNorm1d, Linear], Linear(32, 2); "
        "SGD(lr=0.05, momentum=0.9), clip_grad_norm_(1.0), linear decay over 100 steps; mse",
        **record,
    }


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)

    batches = make_batches()
    write_json(BATCHES, batches)

    runs = [adam_multi_task(batches), sgd_residual_batch_norm(batches)]
    write_json(
        OUTPUT,
        {
            "generator": "tests/golden/training/generate.py",
            "torch_version": torch.__version__,
            "numpy_version": np.__version__,
            "seed": SEED,
            "batches": "batches.json",
            "snapshot_every": SNAPSHOT_EVERY,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
