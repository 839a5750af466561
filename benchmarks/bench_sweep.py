"""The batched lr grid against the same configurations trained one after another (DESIGN.md §5).

64 (body lr, head lr) pairs, SGD momentum, the lab's model (64-128-128-10) on the normal digits
split: ``lrlab.sweep.lr_grid`` (one batched model, torch.func.vmap) against 64 runs of
``lrlab.train.train``, each with its own optimizer — what a student would otherwise write.
Both run with one CPU thread (the lab's and lr_grid's setting); `--threads 1 2` tries
both counts and scores each side by its faster one (worth it on an idle machine only).
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
from lrlab.sweep import lr_grid
from lrlab.train import cpu_threads, train
from lrlab.widgets import make_optimizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="CPU thread counts to try; each side is scored by its fastest "
                             "(on a shared, busy machine 2 threads can be 10x slower)")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}, device {device}")
    data = preset("normal")
    lrs = torch.logspace(-3, -0.5, 8).tolist()                 # 1e-3 .. 0.32, 8 x 8 = 64 pairs
    def batched_run(threads):
        with cpu_threads(threads, device):
            start = time.perf_counter()
            grid = lr_grid(mlp(), data, lrs, lrs, epochs=args.epochs, device=device, threads=None)
            return time.perf_counter() - start, grid

    def sequential_run(threads):
        finals = {}
        with cpu_threads(threads, device):
            start = time.perf_counter()
            for body in lrs:
                for head in lrs:
                    model = mlp()
                    opt = make_optimizer("SGD momentum", by_part(model, {"body": body, "head": head}))
                    finals[body, head] = train(model, opt, data, epochs=args.epochs, device=device)
            return time.perf_counter() - start, finals

    lr_grid(mlp(), data, lrs[:2], lrs[:2], epochs=1, device=device)          # warm-up
    threads = args.threads
    batched_by, sequential_by = {}, {}
    for t in threads:
        batched_by[t], grid = batched_run(t)
        sequential_by[t], finals = sequential_run(t)
    for t in threads:
        print(f"{t} thread(s): batched {batched_by[t]:.2f} s, one after another {sequential_by[t]:.2f} s")
    batched, sequential = min(batched_by.values()), min(sequential_by.values())
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
