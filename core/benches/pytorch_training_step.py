"""Time PyTorch eager on the model of benches/training.rs, for docs/benchmarks.md.

Run from the repository root (needs torch) with:

    python3 core/benches/pytorch_training_step.py

The model is the same 10 -> 64 -> 32 ReLU trunk with two Linear(32, 1) heads. Each case runs
in float32 on one thread (`torch.set_num_threads(1)`). It is warmed up, then timed over
REPEATS rounds of ITERATIONS calls, and the script prints the median round as time per call
and samples per second. The cases match the criterion benchmarks:

- forward/batch: `model(x)` under `torch.no_grad()`, in eval mode;
- forward_backward/batch: `model(x)` and `backward` with a fixed upstream gradient;
- training_step/adam_batch/32: zero_grad, forward, the two MSE losses, backward and
  `torch.optim.Adam(lr=1e-3).step()`.
"""

import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

ITERATIONS = 2000
REPEATS = 5
WARMUP = 500


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.heads = nn.ModuleList([nn.Linear(32, 1), nn.Linear(32, 1)])

    def forward(self, x):
        shared = self.trunk(x)
        return [head(shared) for head in self.heads]


def median_seconds(call):
    """Return the median time of one call over REPEATS rounds of ITERATIONS calls."""
    for _ in range(WARMUP):
        call()
    rounds = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(ITERATIONS):
            call()
        rounds.append((time.perf_counter() - start) / ITERATIONS)
    return statistics.median(rounds)


def report(name, batch, seconds):
    print(f"{name:<32} {seconds * 1e6:9.2f} µs   {batch / seconds:12,.0f} samples/s")


def main():
    torch.set_num_threads(1)
    torch.manual_seed(7)
    model = TwoHeads()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread")

    for batch in (1, 32):
        x = torch.randn(batch, 10)
        model.eval()

        def forward():
            with torch.no_grad():
                model(x)

        report(f"forward/batch/{batch}", batch, median_seconds(forward))

    for batch in (1, 32):
        x = torch.randn(batch, 10)
        upstream = [torch.full((batch, 1), 0.5), torch.full((batch, 1), -0.5)]
        model.train()

        def forward_backward():
            model.zero_grad(set_to_none=True)
            torch.autograd.backward(model(x), upstream)

        report(f"forward_backward/batch/{batch}", batch, median_seconds(forward_backward))

    batch = 32
    x = torch.randn(batch, 10)
    t = torch.randn(batch, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def training_step():
        optimizer.zero_grad(set_to_none=True)
        outputs = model(x)
        loss = F.mse_loss(outputs[0], t[:, 0:1]) + F.mse_loss(outputs[1], t[:, 1:2])
        loss.backward()
        optimizer.step()

    report(f"training_step/adam_batch/{batch}", batch, median_seconds(training_step))


if __name__ == "__main__":
    main()
