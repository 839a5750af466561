"""The GPU check: the live lab and the lr grid on ``cuda`` against the CPU, side by side.

1. The live lab (``Lab(mlp())``, the default lab: SGD momentum, 10 epochs, batch 32): slider
   value set -> final figure, and -> first live frame, median of ``--repeats`` moves, on the CPU
   (one thread, the lab's setting) and on cuda; measured as ``bench_live.py`` does.
2. The lr grid, 64 (8 x 8) and 1,024 (32 x 32) configurations, 3 epochs: ``lr_grid`` on the CPU
   (one thread) and on cuda; the two grids' final losses compared on the runs that did not blow up.
3. One training epoch per model width on each device (``lrlab.train.epoch_seconds``, what the
   lab's device choice measures) and what ``choose_device`` picks for the lab's model.

4. The transformer lab (``lrlab.vit_lab.ViTLab``, its default run: the pretrained digits ViT, 20
   samples per class, batches of 50, 10 epochs): one retrain (``lab.run``: training and drawing),
   median of ``--repeats``, in each mode (full fine-tuning with layer decay, LoRA + head) on the CPU
   (one thread; CPU time beside wall time) and on cuda; one epoch of its workload per device
   (``epoch_seconds``); what ``choose_device`` picks for it; the final losses of both devices.

Prints ratios (CPU time / cuda time: above 1, cuda is faster) and which device each lab should use
for its model. Without a CUDA device it says so and exits 0; ``--cpu-only`` measures the CPU half
of 4 alone, anywhere. About 1-3 minutes on a GPU machine.
Run: .venv/bin/python benchmarks/bench_gpu.py [--repeats N] [--cpu-only]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import torch

from bench_live import slider_to_figure
from lrlab.data import preset
from lrlab.models import mlp
from lrlab.sweep import lr_grid
from lrlab.train import choose_device, cpu_threads, epoch_seconds
from lrlab.vit_lab import ViTLab
from lrlab.widgets import Lab

DEVICES = ("cpu", "cuda")


def lab_latency(device: str, repeats: int) -> tuple[float, float]:
    """Median seconds from a slider move to the final figure and to the first live frame."""
    lab = Lab(mlp(), device=device)
    finals, firsts = [], []

    async def moves():
        for i in range(repeats + 1):
            final, first = await slider_to_figure(lab, 3e-2 if i % 2 else 2.5e-2)
            if i:                                        # the first move is a warm-up
                finals.append(final)
                firsts.append(first)
    with cpu_threads(lab.threads, lab.device):
        asyncio.run(moves())
    return statistics.median(finals), statistics.median(firsts)


def grid_seconds(device: str, side: int, data):
    lrs = torch.logspace(-3, -0.5, side).tolist()
    lr_grid(mlp(), data, lrs[:2], lrs[:2], epochs=1, device=device)           # warm-up
    start = time.perf_counter()
    grid = lr_grid(mlp(), data, lrs, lrs, epochs=3, device=device)
    return time.perf_counter() - start, grid


def vit_retrain(device: str, mode: str, repeats: int) -> tuple[float, float, ViTLab]:
    """Median wall and CPU seconds of one retrain of the transformer lab (training and drawing)."""
    lab = ViTLab(mode=mode, device=device, run_now=False)
    walls, cpus = [], []
    with cpu_threads(lab.threads, lab.device):
        for i in range(repeats + 1):
            wall, cpu = time.perf_counter(), time.process_time()
            lab.run(head_lr=3e-3 if i % 2 else 2e-3)
            if device == "cuda":
                torch.cuda.synchronize()
            if i:                                        # the first run is a warm-up
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), lab


def vit_lab_check(devices, repeats: int) -> None:
    """Part 4: the transformer lab on each of ``devices``."""
    print(f"\n4. transformer lab (default run), median of {repeats} retrains after a warm-up")
    labs = {}
    for mode in ("llrd", "lora"):
        seconds = {}
        for device in devices:
            wall, cpu, labs[mode, device] = vit_retrain(device, mode, repeats)
            seconds[device] = wall
            hist = labs[mode, device].runs[-1]
            print(f"  {mode:4s} {device:4s}: one retrain {wall:.2f} s (CPU time {cpu:.2f} s); "
                  f"final train {hist.train_loss[-1]:.4f}, val {hist.val_loss[-1]:.4f}")
        if "cuda" in seconds:
            print(f"  {mode:4s} ratio cpu/cuda: {seconds['cpu'] / seconds['cuda']:.1f}")
    lab = labs["llrd", "cpu"]
    data = lab.split("clean", 0)
    epochs = {device: min(epoch_seconds(lab.start()[0], data, device, batch_size=lab.batch_size)
                          for _ in range(3)) for device in devices}
    print("  one epoch of its workload (%d samples, batch %d): %s" % (
        len(data.y_train), lab.batch_size, ", ".join(f"{d} {t * 1000:.1f} ms" for d, t in epochs.items())))
    choice = ViTLab(run_now=False).device_choice
    faster = min(epochs, key=epochs.get)
    print(f"  choose_device picks {choice.device} ({choice.reason}); one epoch is faster on {faster}: "
          f"{'agrees' if choice.device.type == faster else 'DISAGREES'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cpu-only", action="store_true",
                        help="measure only the transformer lab on the CPU (part 4's CPU half)")
    args = parser.parse_args()
    if args.cpu_only:
        print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average "
              f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}; the CPU half of part 4 only")
        vit_lab_check(("cpu",), args.repeats)
        return
    if not torch.cuda.is_available():
        print("GPU check: no CUDA device here (torch.cuda.is_available() is False); nothing measured. "
              "(--cpu-only measures the CPU half of the transformer lab's check.)")
        return
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}, "
          f"{os.cpu_count()} CPUs, load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    data = preset("normal")

    print("\n1. live lab (default lab), median of", args.repeats, "slider moves")
    lab = {device: lab_latency(device, args.repeats) for device in DEVICES}
    for device, (final, first) in lab.items():
        print(f"  {device:4s}: slider -> final figure {final * 1000:.0f} ms, first live frame {first * 1000:.0f} ms")
    print(f"  ratio cpu/cuda: final figure {lab['cpu'][0] / lab['cuda'][0]:.2f}, "
          f"first frame {lab['cpu'][1] / lab['cuda'][1]:.2f}")

    print("\n2. lr grid, SGD momentum, 3 epochs (CPU: one thread)")
    for side in (8, 32):
        seconds, grids = {}, {}
        for device in DEVICES:
            seconds[device], grids[device] = grid_seconds(device, side, data)
        ok = torch.isfinite(grids["cpu"].final) & torch.isfinite(grids["cuda"].final)
        gap = (grids["cpu"].final - grids["cuda"].final)[ok].abs()
        print(f"  {side * side:5d} configurations: cpu {seconds['cpu']:.2f} s, cuda {seconds['cuda']:.2f} s, "
              f"ratio cpu/cuda {seconds['cpu'] / seconds['cuda']:.1f}; final val loss cpu vs cuda: "
              f"median |diff| {gap.median():.1e}, largest {gap.max():.1e} over {int(ok.sum())} finite runs")

    print("\n3. one training epoch per model width (what the lab's device choice measures)")
    for hidden in ((128, 128), (512, 512), (2048, 2048)):
        times = {device: min(epoch_seconds(mlp(hidden), data, device) for _ in range(3)) for device in DEVICES}
        faster = min(times, key=times.get)
        print(f"  hidden {hidden}: cpu {times['cpu'] * 1000:.1f} ms, cuda {times['cuda'] * 1000:.1f} ms "
              f"-> {faster}")
    choice = choose_device(mlp(), data)
    faster = min(DEVICES, key=lambda d: lab[d][0])
    print(f"\nthe lab's own choice for its model: {choice.device} ({choice.reason})")
    print(f"the lab should use: {faster} (slider -> final figure {lab[faster][0] * 1000:.0f} ms vs "
          f"{lab[({*DEVICES} - {faster}).pop()][0] * 1000:.0f} ms); "
          f"choose_device {'agrees' if choice.device.type == faster else 'DISAGREES'}")
    vit_lab_check(DEVICES, args.repeats)


if __name__ == "__main__":
    main()
