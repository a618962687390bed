"""Write layers.json: PyTorch's outputs and gradients for gradwell's layers on literal weights.

Regenerate from the repository root (needs torch and numpy) with:

    python3 tests/golden/layers/generate.py

Each case builds a PyTorch module whose parameter names match gradwell's tensor names, fills it
with literal values drawn from a fixed numpy seed, runs one training forward pass and one
backward pass with a given upstream gradient, and records:

- `x`, `dy`: the input batch and the gradient of the loss with respect to the output,
- `parameters`: every parameter and batch-norm buffer by `state_dict` name, before the step,
- `y`, `dx`, `grads`: PyTorch's output, input gradient and parameter gradients,
- `buffers_after`: the batch-norm running statistics after the step.

The nesting is `[sample][feature]` for `x`, `y`, `dy` and `dx`. A multi-task model's output
is `[sample][head][feature]`. `num_batches_tracked` is left out because gradwell does not
store it. Every number is the shortest decimal that reads back as the same float32, so the
Rust test loads exactly the float32 values that PyTorch used.

The cases run in float32 on one CPU thread with deterministic algorithms, so two runs with
the same torch version write the same file.
"""

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

SEED = 20240611
OUTPUT = Path(__file__).resolve().parent / "layers.json"

# Literal inputs and parameters are multiples of this step, so the JSON shows them as short
# decimals such as 0.1234.
LITERAL_STEP = 1e-4

ACTIVATIONS = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    # gradwell's default LeakyRelu<10> has slope 10 / 1000, PyTorch's default.
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}

ACTIVATION_LABELS = {
    "identity": "",
    "relu": " + ReLU",
    "leaky_relu": " + LeakyReLU(0.01)",
    "sigmoid": " + Sigmoid",
    "tanh": " + Tanh",
}


class Dense(nn.Linear):
    """Linear layer and activation in one module, like gradwell's `Dense`.

    Keeping both in one module gives the parameters gradwell's names: `0.weight` for the first
    layer of a chain, where `nn.Sequential(nn.Linear, nn.ReLU)` would number the next layer 2.
    """

    def __init__(self, in_features, out_features, activation="identity"):
        super().__init__(in_features, out_features)
        self.activation = ACTIVATIONS[activation]()

    def forward(self, x):
        return self.activation(super().forward(x))


class Residual(nn.Module):
    """`shortcut(x) + f(x)`, with the identity when `shortcut` is None."""

    def __init__(self, f, shortcut=None):
        super().__init__()
        self.f = f
        self.shortcut = shortcut

    def forward(self, x):
        skip = x if self.shortcut is None else self.shortcut(x)
        return skip + self.f(x)


class MultiTask(nn.Module):
    """A shared trunk followed by a list of heads. Forward returns the list of head outputs."""

    def __init__(self, trunk, heads):
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleList(heads)

    def forward(self, x):
        shared = self.trunk(x)
        return [head(shared) for head in self.heads]


def literal(rng, low, high, shape):
    """Draw float32 values uniformly from [low, high], rounded to LITERAL_STEP."""
    first, last = round(low / LITERAL_STEP), round(high / LITERAL_STEP)
    steps = rng.integers(first, last, size=shape, endpoint=True)
    return (steps * LITERAL_STEP).astype(np.float32)


def fill_literal_parameters(model, rng):
    """Overwrite every parameter and batch-norm buffer with literal values.

    Dense weights and biases come from 1.5 times PyTorch's default range ±1/√in, which puts
    pre-activations on both sides of zero. Batch-norm layers get a scale other than 1, a shift
    other than 0 and running statistics other than the defaults.
    """
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, Dense):
                bound = 1.5 / math.sqrt(module.in_features)
                weight = literal(rng, -bound, bound, module.weight.shape)
                bias = literal(rng, -bound, bound, module.bias.shape)
                module.weight.copy_(torch.from_numpy(weight))
                module.bias.copy_(torch.from_numpy(bias))
            elif isinstance(module, nn.BatchNorm1d):
                n = module.num_features
                module.weight.copy_(torch.from_numpy(literal(rng, 0.5, 1.5, n)))
                module.bias.copy_(torch.from_numpy(literal(rng, -0.5, 0.5, n)))
                module.running_mean.copy_(torch.from_numpy(literal(rng, -0.5, 0.5, n)))
                module.running_var.copy_(torch.from_numpy(literal(rng, 0.5, 2.0, n)))


def stored_tensors(model):
    """Return the parameters and buffers by name, without `num_batches_tracked`."""
    return {
        name: tensor.detach().clone()
        for name, tensor in model.state_dict().items()
        if not name.endswith("num_batches_tracked")
    }


def buffer_names(model):
    return [name for name, _ in model.named_buffers() if not name.endswith("num_batches_tracked")]


def as_float32(value):
    """Convert a tensor, or a list of tensors, to float32 numpy arrays."""
    if isinstance(value, (list, tuple)):
        return [as_float32(item) for item in value]
    return value.detach().numpy().astype(np.float32)


def make_case(name, description, model, x, rng, *, mode="train", frozen=None, adjust=None):
    """Run one forward and one backward pass and return the case as a dict for the JSON file.

    `mode` is "train" (batch statistics, running statistics updated) or "eval" (running
    statistics). `frozen` is a submodule run in eval mode with `requires_grad` off, like
    gradwell's `Frozen`. `adjust` edits the parameters after the literal values are drawn.
    """
    fill_literal_parameters(model, rng)
    if adjust is not None:
        with torch.no_grad():
            adjust(model)
    model.train(mode == "train")
    if frozen is not None:
        frozen.eval()
        frozen.requires_grad_(False)
    before = stored_tensors(model)

    x = torch.from_numpy(x).requires_grad_(True)
    y = model(x)
    outputs = y if isinstance(y, list) else [y]
    dy = [torch.from_numpy(literal(rng, -1.0, 1.0, tuple(out.shape))) for out in outputs]
    torch.autograd.backward(outputs, dy)

    after = stored_tensors(model)
    batch = x.shape[0]
    if isinstance(y, list):
        # [head][sample][feature] to [sample][head][feature].
        y_rows = [[as_float32(out[b]) for out in outputs] for b in range(batch)]
        dy_rows = [[as_float32(d[b]) for d in dy] for b in range(batch)]
    else:
        y_rows, dy_rows = as_float32(y), as_float32(dy[0])

    return {
        "name": name,
        "layer": description,
        "batch": batch,
        "mode": mode,
        "x": as_float32(x),
        "parameters": {key: as_float32(value) for key, value in before.items()},
        "dy": dy_rows,
        "y": y_rows,
        "dx": as_float32(x.grad),
        "grads": {
            key: as_float32(p.grad) for key, p in model.named_parameters() if p.requires_grad
        },
        "buffers_after": {key: as_float32(after[key]) for key in buffer_names(model)},
    }


def zero_first_bias(model):
    model[0].bias[0] = 0.0


def dense_cases(rng):
    cases = []
    for activation in ACTIVATIONS:
        for batch in (1, 4):
            x = literal(rng, -2.0, 2.0, (batch, 5))
            adjust = None
            if batch == 4:
                # A zero sample and a zero bias give z = 0 exactly in output 0, where ReLU and
                # LeakyReLU must use the derivative for z < 0, as PyTorch does.
                x[3] = 0.0
                adjust = zero_first_bias
            description = f"Linear(5, 3){ACTIVATION_LABELS[activation]}"
            model = nn.Sequential(Dense(5, 3, activation))
            name = f"dense_{activation}_batch{batch}"
            cases.append(make_case(name, description, model, x, rng, adjust=adjust))
    return cases


def columns(rng, batch, ranges):
    """Return a batch whose feature j is drawn from ranges[j], so each feature has its own mean."""
    return np.stack([literal(rng, low, high, batch) for low, high in ranges], axis=1)


def batch_norm_cases(rng):
    # Feature 2 is constant over the batch: its variance is 0, so only epsilon keeps
    # 1/√(σ² + ε) finite and the input gradient is large.
    x = columns(rng, 4, [(-1.0, 3.0), (-4.0, -2.0), (0.75, 0.75)])
    model = nn.Sequential(nn.BatchNorm1d(3))
    cases = [make_case("batch_norm_train_batch4", "BatchNorm1d(3), train", model, x, rng)]

    x = columns(rng, 8, [(-1.0, 3.0), (-4.0, -2.0), (-0.1, 0.1), (5.0, 9.0), (-2.0, 2.0)])
    model = nn.Sequential(nn.BatchNorm1d(5))
    cases.append(make_case("batch_norm_train_batch8", "BatchNorm1d(5), train", model, x, rng))

    for batch in (1, 4):
        x = columns(rng, batch, [(-1.0, 3.0), (-4.0, -2.0), (-2.0, 2.0)])
        model = nn.Sequential(nn.BatchNorm1d(3))
        name = f"batch_norm_eval_batch{batch}"
        cases.append(make_case(name, "BatchNorm1d(3), eval", model, x, rng, mode="eval"))

    model = nn.Sequential(Dense(4, 6), nn.BatchNorm1d(6), Dense(6, 2, "tanh"))
    x = literal(rng, -2.0, 2.0, (4, 4))
    description = "Sequential(Linear(4, 6), BatchNorm1d(6), Linear(6, 2) + Tanh), train"
    cases.append(make_case("dense_batch_norm_chain_train", description, model, x, rng))
    return cases


def residual_cases(rng):
    f = nn.Sequential(Dense(4, 6, "tanh"), Dense(6, 4))
    x = literal(rng, -2.0, 2.0, (4, 4))
    description = "x + f(x), f = Linear(4, 6) + Tanh, Linear(6, 4)"
    cases = [make_case("residual_identity", description, nn.Sequential(Residual(f)), x, rng)]

    f = nn.Sequential(Dense(3, 5, "relu"), Dense(5, 2))
    shortcut = nn.Sequential(Dense(3, 2))
    x = literal(rng, -2.0, 2.0, (4, 3))
    description = "Linear(3, 2)(x) + f(x), f = Linear(3, 5) + ReLU, Linear(5, 2)"
    model = nn.Sequential(Residual(f, shortcut))
    cases.append(make_case("residual_projected", description, model, x, rng))

    f = nn.Sequential(Dense(4, 4, "tanh"), nn.BatchNorm1d(4), Dense(4, 4))
    x = literal(rng, -2.0, 2.0, (4, 4))
    description = "x + f(x), f = Linear(4, 4) + Tanh, BatchNorm1d(4), Linear(4, 4), train"
    model = nn.Sequential(Residual(f))
    cases.append(make_case("residual_batch_norm_train", description, model, x, rng))
    return cases


def heads():
    """Return the three heads of the multi-task cases, each numbered like a sequential block."""
    return [
        nn.Sequential(Dense(6, 1)),
        nn.Sequential(Dense(6, 1, "sigmoid")),
        nn.Sequential(Dense(6, 2)),
    ]


def multi_task_cases(rng):
    heads_label = "heads Linear(6, 1), Linear(6, 1) + Sigmoid, Linear(6, 2)"
    model = nn.Sequential(MultiTask(nn.Sequential(Dense(4, 6, "relu")), heads()))
    x = literal(rng, -2.0, 2.0, (4, 4))
    cases = [make_case("multi_task", f"trunk Linear(4, 6) + ReLU; {heads_label}", model, x, rng)]

    trunk = nn.Sequential(Dense(4, 6, "relu"), nn.BatchNorm1d(6))
    model = nn.Sequential(MultiTask(trunk, heads()))
    x = literal(rng, -2.0, 2.0, (4, 4))
    description = f"frozen trunk Linear(4, 6) + ReLU, BatchNorm1d(6) in eval mode; {heads_label}"
    cases.append(make_case("multi_task_frozen_trunk", description, model, x, rng, frozen=trunk))
    return cases


def format_number(value):
    """Return the shortest decimal that reads back as the same float32 through a float64."""
    value = np.float32(value)
    if not np.isfinite(value):
        raise ValueError(f"golden value {value} is not finite")
    text = str(value)
    # The Rust test parses a float64 and rounds it to float32, which must give the same bits.
    if np.float32(float(text)).tobytes() != value.tobytes():
        raise ValueError(f"{text} does not read back as the float32 {value!r}")
    return text


def format_array(value):
    if isinstance(value, (list, np.ndarray)) and not np.isscalar(value):
        return "[" + ", ".join(format_array(item) for item in value) + "]"
    return format_number(value)


def format_json(value, indent=0):
    """Format dicts and lists of dicts one entry a line, and each array on a single line."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {format_json(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        items = [pad + format_json(item, indent + 1) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    if isinstance(value, (str, int)):
        return json.dumps(value)
    return format_array(value)


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)

    rng = np.random.default_rng(SEED)
    cases = dense_cases(rng) + batch_norm_cases(rng) + residual_cases(rng) + multi_task_cases(rng)
    golden = {
        "generator": "tests/golden/layers/generate.py",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "seed": SEED,
        "cases": cases,
    }
    text = format_json(golden) + "\n"
    json.loads(text)  # Raises if the hand-made formatting is not valid JSON.
    OUTPUT.write_text(text)
    print(f"wrote {len(cases)} cases to {OUTPUT} ({len(text)} bytes)")


if __name__ == "__main__":
    main()
