"""One fast, seeded training loop that records a ``History``.

Introduced in the lesson on parameter groups; every lesson trains through ``train``.
The whole digits split lives on the device and is batched by indexing, so a run takes a
fraction of a second and the live lab can retrain on every slider move.
"""
from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .data import Split


def available_devices() -> list[str]:
    """The kinds of device torch can train on here, best guess first: cuda, mps (Apple), cpu."""
    mps = getattr(torch.backends, "mps", None)
    return [kind for kind, ok in (("cuda", torch.cuda.is_available()),
                                  ("mps", mps is not None and mps.is_available()), ("cpu", True)) if ok]


def pick_device(prefer: str | None = None) -> torch.device:
    """``cuda`` if there is a GPU, else ``mps`` (Apple), else ``cpu``; or the one you ``prefer``."""
    available = available_devices()
    if prefer is None:
        return torch.device(available[0])
    kind = str(prefer).split(":")[0]
    if kind not in ("cuda", "mps", "cpu"):
        raise ValueError(f"unknown device {prefer!r}; use 'cuda', 'mps' or 'cpu'")
    if kind not in available:
        raise ValueError(f"device {prefer!r} is not available here; available: {', '.join(available)}")
    return torch.device(prefer)


@dataclass(frozen=True)
class DeviceChoice:
    """Where a model trains and why: ``seconds_per_epoch`` holds what was measured, if anything."""

    device: torch.device
    reason: str
    seconds_per_epoch: dict[str, float] = field(default_factory=dict)


_choices: dict[tuple, DeviceChoice] = {}     # measured once per session per model and workload


def epoch_seconds(model: nn.Module, data: Split, device, *, batch_size: int = 32,
                  threads: int | None = 1) -> float:
    """Seconds that one epoch of SGD training of a copy of ``model`` takes on ``device``, as
    ``training`` runs it: the faster of epochs 2 and 3 (the first pays for start-up)."""
    device = torch.device(device)
    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    gpus = [device.index or 0] if device.type == "cuda" else []
    with cpu_threads(threads, device), torch.random.fork_rng(devices=gpus):   # your random state stays
        ends = [h.seconds for h in training(model, optimizer, data, epochs=3, batch_size=batch_size,
                                            device=device)]
    return min(b - a for a, b in zip(ends, ends[1:]))      # epochs 2 and 3


def choose_device(model: nn.Module, data: Split, *, batch_size: int = 32, threads: int | None = 1,
                  measure: Callable[..., float] | None = None) -> DeviceChoice:
    """The device on which ``model`` trains fastest here, by timing one epoch on each device
    (``measure(model, data, device, batch_size=..., threads=...)`` -> seconds; default
    ``epoch_seconds``), once per session for a given architecture and workload. A small model can
    train faster on the CPU than on a GPU, whose every step waits for kernel launches and copies."""
    kinds = available_devices()
    if kinds == ["cpu"]:
        return DeviceChoice(torch.device("cpu"), "the only device here")
    shapes = tuple((name, tuple(p.shape)) for name, p in model.named_parameters())
    key = (type(model).__name__, shapes, len(data.y_train), batch_size, threads, tuple(kinds))
    if key not in _choices:
        measure = measure or epoch_seconds
        seconds = {kind: measure(model, data, torch.device(kind), batch_size=batch_size, threads=threads)
                   for kind in kinds}
        best = min(seconds, key=seconds.get)
        timings = ", ".join(f"{kind} {seconds[kind] * 1000:.0f} ms" for kind in sorted(seconds, key=seconds.get))
        _choices[key] = DeviceChoice(torch.device(best), f"fastest for this model: one epoch takes {timings}",
                                     seconds)
    return _choices[key]


DIVERGED = "the loss became infinite or NaN (learning rate too high?)"

_active = 0             # runs in flight that changed torch's thread count (lab runs and grids)
_threads_before = 0


@contextlib.contextmanager
def cpu_threads(threads: int | None, device) -> Iterator[None]:
    """Run with ``threads`` CPU threads, then restore torch's own setting (``None``: leave it).

    These models are small: one thread is about as fast as two, and on a busy or shared CPU
    extra threads spin while they wait for each other and can make a run ten times slower.
    Nested and interleaved runs (a cancelled lab run still unwinding) restore it once, last."""
    global _active, _threads_before
    if threads is None or torch.device(device).type != "cpu":
        yield
        return
    if _active == 0:
        _threads_before = torch.get_num_threads()
    _active += 1
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        _active -= 1
        if _active == 0 and torch.get_num_threads() != _threads_before:
            torch.set_num_threads(_threads_before)


@dataclass
class History:
    """What one run did: losses per step and per epoch, each group's lr per step, and each
    group's update-to-weight ratio (||w_end - w_start|| / ||w_start||) per epoch, and how many
    classes the data has (0: unknown), so that a loss can be read against chance, ln(classes)."""

    step_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lrs: list[list[float]] = field(default_factory=list)
    update_ratios: list[list[float]] = field(default_factory=list)
    group_names: list[str] = field(default_factory=list)
    steps_per_epoch: int = 0
    n_classes: int = 0
    device: str = "cpu"
    seconds: float = 0.0
    stopped: str = ""
    label: str = ""

    @property
    def epochs(self) -> int:
        return len(self.val_loss)

    @property
    def best_epoch(self) -> int:
        """1-based epoch of the lowest validation loss."""
        finite = [(v, i) for i, v in enumerate(self.val_loss) if math.isfinite(v)]
        if not finite:
            raise ValueError("no finite validation loss recorded")
        return min(finite)[1] + 1

    @classmethod
    def from_epochs(cls, train_loss, val_loss, label: str = "") -> "History":
        """A History from per-epoch numbers alone, e.g. a table in a book or a log."""
        train_loss, val_loss = [float(v) for v in train_loss], [float(v) for v in val_loss]
        if len(train_loss) != len(val_loss) or not train_loss:
            raise ValueError(f"need as many train as val losses, at least one; got "
                             f"{len(train_loss)} and {len(val_loss)}")
        return cls(train_loss=train_loss, val_loss=val_loss, label=label)

    def summary(self) -> str:
        if not self.epochs:
            return f"{self.label or 'run'}: no epoch finished ({self.stopped or 'not started'})"
        text = (f"{self.label or 'run'}: {self.epochs} epochs on {self.device} in {self.seconds:.2f} s, "
                f"train {self.train_loss[-1]:.3f}, val {self.val_loss[-1]:.3f}")
        if self.val_acc:
            text += f" (acc {self.val_acc[-1]:.2f})"
        return text + (f" — stopped: {self.stopped}" if self.stopped else "")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(x, y)``, in eval mode."""
    was_training = model.training
    model.eval()
    logits = model(x)
    loss, acc = F.cross_entropy(logits, y), (logits.argmax(1) == y).float().mean()
    model.train(was_training)
    return loss.item(), acc.item()


def _group_label(i: int, group: dict) -> str:
    return group["name"] if isinstance(group.get("name"), str) else f"group {i}"


def _check_args(optimizer, data, epochs, batch_size):
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    if not isinstance(data, Split):
        raise TypeError(f"data must be an lrlab.data.Split (e.g. lrlab.data.digits()), "
                        f"got {type(data).__name__}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive whole number, got {epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive whole number, got {batch_size!r}")


def training(model: nn.Module, optimizer: torch.optim.Optimizer, data: Split, *, epochs: int = 10,
             batch_size: int = 32, seed: int = 0, device=None, scheduler=None,
             scheduler_every: str = "epoch", keep_eval: Iterable[nn.Module] = (),
             label: str = "") -> Iterator[History]:
    """Train epoch by epoch, yielding the growing ``History`` after each epoch.

    Stop iterating to cancel a run early. ``scheduler`` is stepped every ``"epoch"`` or every
    ``"step"``. Modules in ``keep_eval`` are put back in eval mode after each ``model.train()``
    (frozen BatchNorm keeps its statistics that way). A non-finite loss ends the run.
    """
    _check_args(optimizer, data, epochs, batch_size)
    if scheduler_every not in ("epoch", "step"):
        raise ValueError(f"scheduler_every must be 'epoch' or 'step', got {scheduler_every!r}")
    device = pick_device(device) if device is None or isinstance(device, str) else device
    start = time.perf_counter()
    torch.manual_seed(seed)
    model.to(device)
    data = data.to(device)
    keep_eval = list(keep_eval)
    order = torch.Generator().manual_seed(seed)
    n = len(data.y_train)
    steps = math.ceil(n / batch_size)
    groups = optimizer.param_groups
    hist = History(group_names=[_group_label(i, g) for i, g in enumerate(groups)],
                   steps_per_epoch=steps, n_classes=data.n_classes, device=str(device), label=label)
    for _ in range(epochs):
        model.train()
        for module in keep_eval:
            module.eval()
        before = [[p.detach().clone() for p in g["params"]] for g in groups]
        losses = torch.empty(steps, device=device)
        perm = torch.randperm(n, generator=order).to(device)
        for s in range(steps):
            idx = perm[s * batch_size:(s + 1) * batch_size]
            loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            hist.lrs.append([float(g["lr"]) for g in groups])
            optimizer.step()
            losses[s] = loss.detach()
            if scheduler is not None and scheduler_every == "step":
                scheduler.step()
        if scheduler is not None and scheduler_every == "epoch":
            scheduler.step()
        step_losses = losses.tolist()
        hist.step_loss += step_losses
        hist.train_loss.append(sum(step_losses) / steps)
        val_loss, val_acc = evaluate(model, data.x_val, data.y_val)
        hist.val_loss.append(val_loss)
        hist.val_acc.append(val_acc)
        hist.update_ratios.append([_update_ratio(old, g["params"]) for old, g in zip(before, groups)])
        hist.seconds = time.perf_counter() - start
        if not all(math.isfinite(v) for v in step_losses + [val_loss]):
            hist.stopped = DIVERGED
        yield hist
        if hist.stopped:
            return


@torch.no_grad()
def _update_ratio(old: list[torch.Tensor], new: list[torch.Tensor]) -> float:
    if not old:
        return 0.0
    change = torch.sqrt(sum(((n - o) ** 2).sum() for o, n in zip(old, new)))
    size = torch.sqrt(sum((o ** 2).sum() for o in old))
    return (change / size).item() if size > 0 else float("inf") if change > 0 else 0.0


def train(model: nn.Module, optimizer: torch.optim.Optimizer, data: Split, *,
          should_stop: Callable[[], bool] | None = None,
          on_epoch: Callable[[History], None] | None = None, **options) -> History:
    """Train ``model`` on ``data`` and return its ``History``; options as in ``training``.

    ``on_epoch(history)`` runs after each epoch; ``should_stop()`` returning True cancels the
    run after the current epoch (``history.stopped`` then says so).
    """
    hist = History()
    for hist in training(model, optimizer, data, **options):
        if on_epoch is not None:
            on_epoch(hist)
        if should_stop is not None and should_stop() and hist.epochs < options.get("epochs", 10):
            hist.stopped = "cancelled"
            break
    return hist
