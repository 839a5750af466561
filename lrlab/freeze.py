"""Freeze parts of a model, prove they stayed frozen, and measure what freezing saves.

Introduced in the lesson on freezing. ``freeze(model.body)`` is ``requires_grad_(False)``
plus ``eval()`` (so BatchNorm keeps its running statistics and Dropout stops dropping);
``fingerprint`` and ``changed`` show which parameters *and buffers* moved during training;
``step_cost`` and ``step_times`` measure one training step (memory, FLOPs, seconds), so the
lr = 0 trick and a real freeze can be compared on the machine the student has.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

MiB = 2 ** 20


def freeze(module: nn.Module) -> nn.Module:
    """Freeze ``module``: no gradients for its parameters, and eval mode for its layers.

    ``eval()`` matters for BatchNorm (running statistics stop changing) and Dropout (stops
    dropping). ``model.train()`` switches it back to train mode: re-apply ``module.eval()``
    after every ``model.train()``, or pass ``keep_eval=[module]`` to ``lrlab.train.train``.
    Returns the module, so ``body = freeze(model.body)`` reads naturally.
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"freeze takes an nn.Module (e.g. model.body), got {type(module).__name__}")
    module.requires_grad_(False)
    module.eval()
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Undo ``freeze``: gradients on again and train mode. Returns the module.

    An optimizer built earlier updates the parameters only if they are in one of its groups.
    Best, give it every group from the start, the frozen ones included (skipped while their
    grad is None): unfreezing is then this call alone, and an lr scheduler built with the
    optimizer schedules every group. ``optimizer.add_param_group`` later works too, but not
    under a scheduler: LambdaLR raises ``ValueError`` at its next step, and the new group has
    no entry in any scheduler's ``base_lrs`` (CosineAnnealingLR fails one step past T_max).
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"unfreeze takes an nn.Module, got {type(module).__name__}")
    module.requires_grad_(True)
    module.train()
    return module


def count(model: nn.Module) -> tuple[int, int]:
    """``(trainable, frozen)``: how many parameter elements require a gradient and how many don't."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return trainable, frozen


def fingerprint(module: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every parameter and buffer (BatchNorm running mean, variance and batch
    count included), keyed by name in ``state_dict`` order, to compare with ``changed``
    after training."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"fingerprint takes an nn.Module, got {type(module).__name__}")
    return {name: t.detach().to("cpu", copy=True) for name, t in module.state_dict().items()}


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.is_floating_point() or a.is_complex():
        return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())
    return torch.equal(a, b)


def changed(before: Mapping[str, torch.Tensor], after) -> list[str]:
    """Names of the tensors that differ (bit for bit) between two fingerprints.

    ``after`` is a fingerprint or the module itself. An empty list proves nothing moved.
    """
    if isinstance(after, nn.Module):
        after = fingerprint(after)
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        raise TypeError("changed(before, after) takes fingerprints (dicts of tensors) or a module")
    if set(before) != set(after):
        only = sorted(set(before) ^ set(after))
        raise ValueError(f"the fingerprints are of different modules (names differ: {', '.join(only[:4])})")
    return [name for name in before if not _same(before[name], after[name].detach().cpu())]


def training_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                  y: torch.Tensor) -> Callable[[], float]:
    """A function doing one cross-entropy training step on ``(x, y)``; it returns the loss."""
    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()
    return step


@dataclass(frozen=True)
class StepCost:
    """What one training step costs, counted (not timed): bytes and floating-point operations."""

    activations: int  # bytes autograd saved for the backward pass (parameters not counted)
    gradients: int    # bytes of .grad tensors after the step
    state: int        # bytes of optimizer state (momentum buffers, Adam moments)
    flops: int        # forward + backward floating-point operations

    def __str__(self) -> str:
        return (f"activations saved {self.activations / MiB:6.2f} MiB, gradients "
                f"{self.gradients / MiB:6.2f} MiB, optimizer state {self.state / MiB:6.2f} MiB, "
                f"{self.flops / 1e9:6.3f} GFLOP")


def _bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def step_cost(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
              y: torch.Tensor) -> StepCost:
    """Run one training step and count its memory and work: activations saved for backward,
    gradient bytes, optimizer-state bytes and FLOPs. Counts are exact, so they do not depend
    on how busy the machine is (unlike ``step_times``)."""
    from torch.utils.flop_counter import FlopCounterMode

    params = {p.data_ptr() for p in model.parameters()}
    saved: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        if t.data_ptr() not in params:
            saved[(t.data_ptr(), t.dtype, tuple(t.shape))] = _bytes(t)
        return t

    optimizer.zero_grad(set_to_none=True)
    counter = FlopCounterMode(display=False)
    with counter:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
    optimizer.step()
    grads = sum(_bytes(p.grad) for p in model.parameters() if p.grad is not None)
    state = sum(_bytes(v) for s in optimizer.state.values() for v in s.values()
                if isinstance(v, torch.Tensor) and v.dim() > 0)
    return StepCost(sum(saved.values()), grads, state, counter.get_total_flops())


def step_times(steps: Mapping[str, Callable[[], object]], *, repeats: int = 7,
               warmup: int = 1) -> dict[str, float]:
    """Seconds per call of each function, the fastest of ``repeats`` calls.

    The functions are called in turn (a, b, a, b, ...), so a busy machine slows them alike;
    the minimum is the least disturbed measurement. Compare the numbers with each other,
    not with someone else's machine.
    """
    if not steps:
        raise ValueError("steps must name at least one function, e.g. {'lr=0': step_a}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"need repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    for _ in range(warmup):
        for fn in steps.values():
            fn()
    best = {label: float("inf") for label in steps}
    for _ in range(repeats):
        for label, fn in steps.items():
            start = time.perf_counter()
            fn()
            best[label] = min(best[label], time.perf_counter() - start)
    return best
