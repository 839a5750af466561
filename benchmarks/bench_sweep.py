"""The batched lr grid against the same configurations trained one after another (DESIGN.md §5).

64 (body lr, head lr) pairs, SGD momentum, the lab's model (64-128-128-10) on the normal digits
split: ``lrlab.sweep.lr_grid`` (one batched model, torch.func.vmap) against 64 runs of
``lrlab.train.train``, each with its own optimizer — what a student would otherwise write.
Both use one CPU thread (the setting the lab and lr_grid use; see lrlab.sweep.cpu_threads).
Also checks two cells against their one-at-a-time runs. Target: >= 8x on the CPU.
Prints `<metric>: <value> (target <target>) PASS|MISS`; exits 0 unless it crashes.
Run: .venv/bin/python benchmarks/bench_sweep.py [--epochs N]
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from lrlab.data import preset
from lrlab.groups import by_part
from lrlab.models import mlp
from lrlab.sweep import cpu_threads, lr_grid
from lrlab.train import train
from lrlab.widgets import make_optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}, device {device}")
    data = preset("normal")
    lrs = torch.logspace(-3, -0.5, 8).tolist()                 # 1e-3 .. 0.32, 8 x 8 = 64 pairs
    with cpu_threads(1, device):
        lr_grid(mlp(), data, lrs[:2], lrs[:2], epochs=1, device=device)          # warm-up
        start = time.perf_counter()
        grid = lr_grid(mlp(), data, lrs, lrs, epochs=args.epochs, device=device)
        batched = time.perf_counter() - start

        start = time.perf_counter()
        finals = {}
        for body in lrs:
            for head in lrs:
                model = mlp()
                opt = make_optimizer("SGD momentum", by_part(model, {"body": body, "head": head}))
                finals[body, head] = train(model, opt, data, epochs=args.epochs, device=device)
        sequential = time.perf_counter() - start
    worst = 0.0
    for i, j in [(2, 5), (5, 2)]:
        one = finals[lrs[i], lrs[j]].val_loss[-1]
        worst = max(worst, abs(grid.val_loss[i, j, -1].item() - one))
    body, head, loss = grid.best()
    print(f"64 configurations x {args.epochs} epochs: batched {batched:.2f} s, "
          f"one after another {sequential:.2f} s; best cell body {body:.1e}, head {head:.1e} -> {loss:.3f}; "
          f"largest |batched - sequential| final val loss in two checked cells: {worst:.1e}")
    ratio = sequential / batched
    print(f"batched sweep speed-up (64 configs, {device.type}): {ratio:.1f}x (target >= 8x) "
          f"{'PASS' if ratio >= 8 else 'MISS'}")


if __name__ == "__main__":
    main()
