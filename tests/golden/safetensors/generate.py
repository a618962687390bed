"""Write weather_model.safetensors and weather_model_expected.json for the interchange test.

Regenerate from the repository root (needs torch, numpy and safetensors) with:

    python3 tests/golden/safetensors/generate.py

The script builds a PyTorch module with the structure of `gradwell::weather::Model`: a trunk
10 -> 64 -> 32 with ReLU after both layers, and three linear heads 32 -> 1. Its `state_dict`
names equal gradwell's tensor names for that model at the root, such as `0.trunk.0.weight`
and `0.heads.2.0.bias`, because:

- the root is an `nn.Sequential` with the model at index 0,
- the trunk is an `nn.ModuleList` of two `nn.Linear` layers, and `forward` applies the ReLU
  (gradwell's `Dense` contains its activation, so there is no separate activation module that
  would shift the indices),
- each head is an `nn.Sequential` with one `nn.Linear`, in an `nn.ModuleList`.

The parameters get PyTorch's default initialisation from a fixed seed. The JSON records:

- `parameters`: a few parameter values by name and flat index, as exact float32 values,
- `inputs`: a few fixed input rows of 10 features,
- `outputs`: the model's output for each row, `[row][head]`.

Every number is the float32 value widened to a double and written as the shortest decimal of
that double, so reading it as f64 and narrowing to f32 gives back the exact float32. The model
runs in float32 on one CPU thread, so two runs with the same torch version write the same
files.
"""

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

SEED = 20241204
HERE = Path(__file__).resolve().parent
WEIGHTS = HERE / "weather_model.safetensors"
EXPECTED = HERE / "weather_model_expected.json"

INPUTS = 10
HIDDEN = (64, 32)
HEADS = 3

# Parameters the Rust test compares exactly: (name, flat index in row-major order).
CHECKED_PARAMETERS = [
    ("0.trunk.0.weight", 0),
    ("0.trunk.0.weight", 639),
    ("0.trunk.0.bias", 17),
    ("0.trunk.1.weight", 1000),
    ("0.trunk.1.bias", 31),
    ("0.heads.0.0.weight", 5),
    ("0.heads.1.0.bias", 0),
    ("0.heads.2.0.weight", 31),
]

# Input rows in the model's feature order: today's precipitation, maximum and minimum
# temperature and wind, the same for yesterday, then sine and cosine of the day of the year.
INPUT_ROWS = [
    [0.0, 12.8, 5.0, 4.7, 10.9, 10.6, 2.8, 4.5, 0.0516, 0.9987],
    [2.5, 25.6, 13.9, 2.1, 0.0, 27.2, 15.0, 3.3, -0.4907, -0.8713],
    [-1.2, 0.3, -0.8, 1.5, 0.7, -0.2, 0.9, -1.1, 0.5, -0.5],
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
]


class WeatherModel(nn.Module):
    """The multi-task model: a ReLU trunk and linear heads on its output."""

    def __init__(self):
        super().__init__()
        widths = (INPUTS, *HIDDEN)
        self.trunk = nn.ModuleList(
            nn.Linear(fan_in, fan_out) for fan_in, fan_out in zip(widths, widths[1:])
        )
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(HIDDEN[-1], 1)) for _ in range(HEADS)
        )

    def forward(self, x):
        for layer in self.trunk:
            x = torch.relu(layer(x))
        return torch.cat([head(x) for head in self.heads], dim=1)


def float32_value(value):
    """Return a float32 as the Python float of the same value, which JSON writes exactly."""
    return float(np.float32(value))


def main():
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    model = nn.Sequential(WeatherModel())
    model.eval()
    state = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(WEIGHTS))

    with torch.no_grad():
        x = torch.tensor(INPUT_ROWS, dtype=torch.float32)
        y = model(x)

    expected = {
        "seed": SEED,
        "torch_version": torch.__version__,
        "parameters": [
            {
                "name": name,
                "index": index,
                "value": float32_value(state[name].flatten()[index].item()),
            }
            for name, index in CHECKED_PARAMETERS
        ],
        "inputs": [[float32_value(v) for v in row] for row in x.tolist()],
        "outputs": [[float32_value(v) for v in row] for row in y.tolist()],
    }
    EXPECTED.write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
