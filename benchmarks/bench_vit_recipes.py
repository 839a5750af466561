"""Fine-tuning recipes on the pretrained digits ViT, each at its best lr, over seeds (issue 20).

    python benchmarks/bench_vit_recipes.py [--kind clean|inverted] [--seeds 8] [--per-class 3] [--epochs 30]

Every recipe gets the same search budget: the lrs LRS (a x3 grid; the head's lr for layer-wise
decay, ``lora_A``'s for LoRA), each run on every seed (a seed draws the new head, LoRA's A and the
few-shot training samples of ``lrlab.pretrained_vit.fine_tuning_data``). Its best lr is the one
with the lowest mean final validation loss; at that lr the table prints the mean, the spread (std
over seeds), the worst seed, the mean accuracy, its loss minus that of the best single lr seed by
seed (paired: the same seed, so the same head and samples; mean ± std) and in how many seeds it
is lower. Recipes: (a) one lr for everything; (b)
layer-wise lr decay 0.65 and 0.75 (decay 1.0 is (a)); (c) AdamW with weight decay on every tensor
vs. exclusion groups (no decay on biases, norms, position embedding, class token); (d) LoRA rank
4 on attention q and v, B zero-initialised, base frozen, new head trained: plain (B at A's lr)
vs. LoRA+ (B at 16x), the head at A's lr or kept at HEAD_LR; and the head alone (a linear
probe). One CPU thread; all runs batched with ``lrlab.pretrained_vit.fine_tune_many``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lrlab import pretrained_vit as pv  # noqa: E402

LRS = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
LORA = {"rank": 4}
HEAD_LR = 1e-2       # the head-only recipe's best lr on the clean task: LoRA's head kept there


def one_lr(lr, wd=0.0):
    return lambda m: [{"params": [p for p in m.parameters() if p.requires_grad], "lr": lr, "weight_decay": wd}]


def excluded(lr, wd):
    return lambda m: pv.llrd(m, lr, 1.0, weight_decay=wd)


def head_only(lr):
    return lambda m: [{"params": list(m.head.parameters()), "lr": lr, "weight_decay": 0.0}]


RECIPES = {   # name: (groups for an lr, LoRA options or None)
    "(a) one lr": (one_lr, None),
    "(b) LLRD 0.65": (lambda lr: (lambda m: pv.llrd(m, lr, 0.65)), None),
    "(b) LLRD 0.75": (lambda lr: (lambda m: pv.llrd(m, lr, 0.75)), None),
    "(c) wd 0.05 on all": (lambda lr: one_lr(lr, 0.05), None),
    "(c) wd 0.05 excluded": (lambda lr: excluded(lr, 0.05), None),
    "(c) wd 0.5 on all": (lambda lr: one_lr(lr, 0.5), None),
    "(c) wd 0.5 excluded": (lambda lr: excluded(lr, 0.5), None),
    "(d) LoRA r4 q,v": (lambda lr: (lambda m: pv.lora_plus(m, lr, 1.0)), LORA),
    "(d) LoRA+ r4 q,v x16": (lambda lr: (lambda m: pv.lora_plus(m, lr, 16.0)), LORA),
    "(d) LoRA r4, head 1e-2": (lambda lr: (lambda m: pv.lora_plus(m, lr, 1.0, head_lr=HEAD_LR)), LORA),
    "(d) LoRA+ x16, head 1e-2": (lambda lr: (lambda m: pv.lora_plus(m, lr, 16.0, head_lr=HEAD_LR)), LORA),
    "head only": (head_only, None),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kind", default=pv.KIND, help="fine-tuning task: clean, inverted or shifted")
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--per-class", type=int, default=pv.PER_CLASS)
    parser.add_argument("--epochs", type=int, default=pv.EPOCHS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    seeds = list(range(args.seeds))
    options = dict(epochs=args.epochs, per_class=args.per_class, kind=args.kind)
    print(f"task {args.kind!r}, {args.per_class} per class, {args.epochs} full-batch AdamW steps, "
          f"seeds {seeds[0]}-{seeds[-1]}, lrs {', '.join(f'{lr:g}' for lr in LRS)}; one thread", flush=True)
    best = {}
    start, cpu = time.perf_counter(), time.process_time()
    n_runs = 0
    for name, (make, lora) in RECIPES.items():
        many = pv.fine_tune_many([(make(lr), s) for lr in LRS for s in seeds], lora=lora, **options)
        n_runs += len(LRS) * len(seeds)
        loss = many.val_loss.view(len(LRS), len(seeds))
        acc = many.val_acc.view(len(LRS), len(seeds))
        means = torch.nan_to_num(loss, nan=float("inf")).mean(1)
        k = int(means.argmin())
        best[name] = (LRS[k], loss[k], acc[k])
        print(f"  {name}: {many.seconds:.1f} s, mean loss per lr "
              + " ".join(f"{m:.3f}" for m in means.tolist()), flush=True)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    ref = best["(a) one lr"][1]
    print("\n| recipe | best lr | val loss mean | std | worst seed | val acc | minus (a), paired | beats (a) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (lr, loss, acc) in best.items():
        diff = loss - ref
        print(f"| {name} | {lr:g} | {loss.mean():.3f} | {loss.std():.3f} | {loss.max():.3f} | "
              f"{acc.mean():.3f} | {diff.mean():+.3f} ± {diff.std():.3f} | {int((diff < 0).sum())}/{len(seeds)} |")
    print(f"\n{n_runs} fine-tunes in {seconds:.0f} s ({cpu:.0f} s of CPU): {seconds / n_runs:.2f} s each "
          f"({cpu / n_runs:.2f} s of CPU) on one thread")
    return 0


if __name__ == "__main__":
    sys.exit(main())
