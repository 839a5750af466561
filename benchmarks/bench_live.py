"""The live lab's speed, measured side by side in one run (DESIGN.md §5).

1. Training overhead: the lab's training of the default workload (lrlab.train.training with its
   History recording, the lab's per-epoch cancel checks and asyncio yields; no drawing) against
   a bare PyTorch loop doing the same steps (same weights, optimizer, batches, and a validation
   loss per epoch so there is a curve to draw). Target: <= 1.25x.
2. Slider value set -> final figure ready (SVG in the Image widget, legend and status line
   written), for the default lab, driven on an asyncio loop as the kernel does, against the
   bare loop's time: median <= 1.25x (drawing, debounce and bookkeeping included); first live
   frame <= 0.5x (issue 19).

The three are measured interleaved (bare loop, lab training, slider move, then again), and each
ratio is the median over repeats of that repeat's own ratio, so a change in the machine's load
reaches both sides of a ratio alike. The same ratios in CPU time (this process's, which other
jobs on the machine do not inflate) are printed beside them: on an idle machine the two agree. Both sides run with the same CPU thread
setting (the lab's: one thread). Prints one line per target,
`<metric>: <value> (target <target>) PASS|MISS`; exits 0 unless it crashes.
Run: .venv/bin/python benchmarks/bench_live.py [--repeats N]
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

from lrlab.groups import by_part
from lrlab.models import mlp
from lrlab.train import cpu_threads
from lrlab.widgets import Lab, make_optimizer


def bare_loop(lab: Lab, s: dict) -> float:
    """The same steps as the lab's run, written as plainly as PyTorch allows."""
    start = time.perf_counter()
    model = mlp()
    model.load_state_dict(lab.initial_state)
    opt = make_optimizer(s["optimizer"], by_part(model, s["lrs"]))
    data = lab.split(s["dataset"])
    torch.manual_seed(s["seed"])
    order = torch.Generator().manual_seed(s["seed"])
    n, b = len(data.y_train), lab.batch_size
    for _ in range(s["epochs"]):
        model.train()
        perm = torch.randperm(n, generator=order)
        for i in range(0, n, b):
            idx = perm[i:i + b]
            loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            F.cross_entropy(model(data.x_val), data.y_val).item()
    return time.perf_counter() - start


async def lab_training(lab: Lab, s: dict) -> float:
    """The lab's own training path, drawing aside: History, cancel checks, asyncio yields."""
    start = time.perf_counter()
    generation = lab._generation
    for _hist in lab._epochs(s):
        if generation != lab._generation:
            break
        await asyncio.sleep(0)
        if generation != lab._generation:
            break
    return time.perf_counter() - start


async def slider_to_figure(lab: Lab, value: float) -> tuple[float, float]:
    """Seconds from setting the body slider to the final figure, and to the first live frame."""
    frames, draw = [], lab._draw

    def timed(hist, epochs, live=False):
        draw(hist, epochs, live)
        frames.append(time.perf_counter())
    lab._draw = timed
    try:
        start = time.perf_counter()
        lab.sliders["body"].value = value
        await lab.wait()
        done = time.perf_counter()
    finally:
        del lab._draw
    assert frames and len(lab.runs) and math.isclose(lab.runs[-1].lrs[0][0], value, rel_tol=1e-6)
    return done - start, frames[0] - start


def line(metric: str, value: float, unit: str, target: str, ok: bool) -> str:
    return f"{metric}: {value:.3g}{unit} (target {target}) {'PASS' if ok else 'MISS'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    lab = Lab(mlp())                                     # the default lab, as a student gets it
    s = lab.settings()
    print(f"default lab: {s['optimizer']}, lrs {s['lrs']}, {s['epochs']} epochs, "
          f"{s['dataset']} ({len(lab.split(s['dataset']).y_train)} train samples), device {lab.device} "
          f"({lab.device_choice.reason})")

    bare, ours, finals, firsts, cpu = [], [], [], [], {"bare": [], "training": [], "final": []}

    def timed_cpu(name, work):
        start = time.process_time()
        result = work()
        cpu[name].append(time.process_time() - start)
        return result
    with cpu_threads(lab.threads, lab.device):
        bare_loop(lab, s)                                # warm-up
        asyncio.run(lab_training(lab, s))
        asyncio.run(slider_to_figure(lab, 2.5e-2))
        for i in range(args.repeats):                    # interleaved: same conditions for all
            bare.append(timed_cpu("bare", lambda: bare_loop(lab, s)))
            ours.append(timed_cpu("training", lambda: asyncio.run(lab_training(lab, s))))
            value = 2.5e-2 if i % 2 else 3e-2
            final, first = timed_cpu("final", lambda: asyncio.run(slider_to_figure(lab, value)))
            finals.append(final)
            firsts.append(first)
    b, o = statistics.median(bare), statistics.median(ours)
    f, ff = statistics.median(finals), statistics.median(firsts)
    ratio = {name: statistics.median(x / y for x, y in zip(times, bare))
             for name, times in (("training", ours), ("final", finals), ("first", firsts))}
    print(f"median of {args.repeats}: bare loop {b * 1000:.0f} ms, lab training {o * 1000:.0f} ms, "
          f"slider -> final figure {f * 1000:.0f} ms (min {min(finals) * 1000:.0f}, "
          f"max {max(finals) * 1000:.0f}), first live frame {ff * 1000:.0f} ms; figures drawn per "
          f"move {lab.figures_drawn / (args.repeats + 2):.1f}")
    in_cpu = {name: statistics.median(x / y for x, y in zip(cpu[name], cpu["bare"]))
              for name in ("training", "final")}
    print(f"the same in CPU time: bare loop {statistics.median(cpu['bare']) * 1000:.0f} ms; lab training "
          f"{in_cpu['training']:.3g}x, slider -> final figure {in_cpu['final']:.3g}x the bare loop")

    print(line("lab training overhead vs bare loop", ratio["training"], "x", "<= 1.25x",
               ratio["training"] <= 1.25))
    print(line("slider to final figure vs bare loop (median)", ratio["final"], "x", "<= 1.25x",
               ratio["final"] <= 1.25))
    print(line("slider to first live frame vs bare loop (median)", ratio["first"], "x", "<= 0.5x",
               ratio["first"] <= 0.5))


if __name__ == "__main__":
    main()
