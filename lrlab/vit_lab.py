"""The transformer's live lab: the head's lr, the layer-decay factor and the LoRA+ ratio on
sliders, retraining the pretrained digits ViT live, each layer's resulting lr drawn beside the curves.

Introduced in the lesson on fine-tuning transformers::

    from lrlab.vit_lab import vit_lab
    vit_lab()                       # full fine-tuning with layer-wise lr decay; or LoRA + head

Two recipes of ``lrlab.pretrained_vit``, each trained with ``torch.optim.AdamW``:

* ``mode="llrd"`` — full fine-tuning, ``llrd(model, head_lr, decay, weight_decay=0.05)``: the head
  and final norm at the head's lr, block i at ``head_lr * decay**(L + 1 - i)``, the embeddings
  lowest; biases, norms, the position embedding and the class token take no weight decay.
* ``mode="lora"`` — the body frozen under rank-4 LoRA adapters on ``attn.q`` and ``attn.v``, the
  new head trainable: ``lora_plus(model, head_lr, ratio)``, ``lora_A`` and the head at the head's
  lr and ``lora_B`` at ``ratio`` times it (peft's ``create_loraplus_optimizer`` does the same with
  its ``lr``); ratio 1 is plain LoRA. The decay slider has no meaning here and is disabled, as the
  ratio slider is in the other mode.

For a given seed every run starts from the same weights (``pretrained_vit.start(seed)``: the
pretrained body and a new head drawn with the seed) on ``fine_tuning_data(per_class, seed=seed,
kind=task)``. The run is sized (``PER_CLASS`` samples of each digit, batches of ``BATCH``) so that a
GPU trains it faster than a CPU while a CPU thread still retrains it in a few seconds; with
``device=None`` ``lrlab.train.choose_device`` times an epoch on each device and the status line says
which trained and why. The status line reports the validation accuracy rather than
``lrlab.diagnose``'s verdict, whose thresholds were tuned on MLPs.
"""
from __future__ import annotations

import copy
import html
import inspect
import math
from collections.abc import Iterator

import ipywidgets as widgets
import torch

from . import pretrained_vit as pv
from .data import Split
from .train import History, training
from .vit import ViT, layer_id
from .widgets import LiveLab, short_lr, device_choice

MODES = {"llrd": "full fine-tuning, layer decay", "lora": "LoRA + head"}
TASKS = ("clean", "inverted")
LORA = {"rank": 4}                         # add_lora's default targets: attn.q and attn.v
WEIGHT_DECAY = 0.05                        # the decayed groups' weight decay in "llrd" (MAE's)
PER_CLASS, BATCH = 20, 50                  # 200 images, 4 steps an epoch (see the module docstring)
HEAD_LR = (-5, -1)                         # the head lr slider spans 1e-5 .. 1e-1
DECAY, RATIO, EPOCHS, SEED = (0.5, 1.0), (1, 64), (2, 40), (0, 10_000)
DEFAULTS = {"mode": "llrd", "head_lr": 3e-3, "decay": 0.65, "ratio": 16.0, "task": "clean",
            "epochs": 10, "seed": 0}
CHART_DECADES = (-7, 1)                    # the lr chart's log axis: 1e-7 .. 10


def _number(name: str, value, lo: float, hi: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}") from None
    if not (math.isfinite(number) and lo <= number <= hi):
        raise ValueError(f"{name} must be a number from {lo:g} to {hi:g}, got {value!r}")
    return number


def _whole(name: str, value, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")
    return value


def _choice(name: str, value, choices) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


CHECKS = {"mode": lambda v: _choice("mode", v, tuple(MODES)),
          "head_lr": lambda v: _number("head_lr", v, 10.0 ** HEAD_LR[0], 10.0 ** HEAD_LR[1]),
          "decay": lambda v: _number("decay", v, *DECAY),
          "ratio": lambda v: _number("ratio", v, *RATIO),
          "task": lambda v: _choice("task", v, TASKS),
          "epochs": lambda v: _whole("epochs", v, *EPOCHS),
          "seed": lambda v: _whole("seed", v, *SEED)}


def groups_for(model: ViT, s: dict) -> list[dict]:
    """The param groups of settings ``s`` on ``model``: ``llrd`` or ``lora_plus``."""
    if s["mode"] == "lora":
        return pv.lora_plus(model, s["head_lr"], s["ratio"])
    return pv.llrd(model, s["head_lr"], s["decay"], weight_decay=WEIGHT_DECAY)


def layer_lrs(model: ViT, groups: list[dict]) -> list[tuple[str, float]]:
    """Each trained layer's lr, in the model's order: ``embed``, ``block 1`` .. ``block L``,
    ``head`` (with the final norm); or ``lora_A``, ``lora_B``, ``head`` when LoRA trains."""
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    depth, lrs = len(model.blocks), {}
    for name, p in model.named_parameters():
        if id(p) not in lr_of:
            continue
        if name.endswith(("lora_A", "lora_B")):
            label = name.rsplit(".", 1)[1]
        else:
            layer = layer_id(name, depth)
            label = "embed" if layer == 0 else "head" if layer == depth + 1 else f"block {layer}"
        lrs.setdefault(label, lr_of[id(p)])
    return list(lrs.items())


def lr_chart(lrs: list[tuple[str, float]], *, width: int = 260, height: int = 300) -> str:
    """Inline SVG: one bar per layer, its height the lr on a log axis (``CHART_DECADES``)."""
    lo, hi = CHART_DECADES
    left, top, bottom = 44, 22, 40
    plot_h, slot = height - top - bottom, (width - left - 8) / max(len(lrs), 1)
    y = lambda lr: top + plot_h * (hi - min(max(math.log10(lr), lo), hi)) / (hi - lo)  # noqa: E731
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' class='lrlab-lrs' width='{width}' height='{height}' "
             f"font-family='sans-serif' font-size='10'>",
             f"<text x='{width / 2}' y='13' text-anchor='middle' font-size='12'>lr per layer (log)</text>"]
    for decade in range(lo, hi + 1):
        yy = y(10.0 ** decade)
        parts.append(f"<line x1='{left}' x2='{width - 4}' y1='{yy:.1f}' y2='{yy:.1f}' stroke='#ddd'/>"
                     f"<text x='{left - 4}' y='{yy + 3:.1f}' text-anchor='end'>{f'1e{decade}' if decade < 0 else 10 ** decade}</text>")
    for i, (label, lr) in enumerate(lrs):
        x, yy, name = left + i * slot + slot * 0.15, y(lr), html.escape(label)
        mid, base = x + slot * 0.35, height - bottom + 12
        parts.append(f"<rect class='lrlab-lr' data-layer='{name}' data-lr='{lr:.3e}' x='{x:.1f}' "
                     f"y='{yy:.1f}' width='{slot * 0.7:.1f}' height='{top + plot_h - yy:.1f}' "
                     f"fill='#0072B2'><title>{name}: lr {lr:.2e}</title></rect>"
                     f"<text x='{mid:.1f}' y='{base}' text-anchor='end' "
                     f"transform='rotate(-40 {mid:.1f} {base})'>{name}</text>")
    return "".join(parts) + "</svg>"


class ViTLab(LiveLab):
    """The transformer lab; see the module docstring. ``mode``, ``head_lr``, ``decay``, ``ratio``,
    ``task``, ``epochs`` and ``seed`` are its controls (``set`` takes them by these names);
    ``per_class`` and ``batch_size`` size the run; ``device`` ``None`` measures the faster one."""

    def __init__(self, *, mode: str = DEFAULTS["mode"], head_lr: float = DEFAULTS["head_lr"],
                 decay: float = DEFAULTS["decay"], ratio: float = DEFAULTS["ratio"],
                 task: str = DEFAULTS["task"], epochs: int = DEFAULTS["epochs"], seed: int = DEFAULTS["seed"],
                 per_class: int = PER_CLASS, batch_size: int = BATCH, device=None,
                 threads: int | None = 1, run_now: bool = True):
        values = {"mode": mode, "head_lr": head_lr, "decay": decay, "ratio": ratio, "task": task,
                  "epochs": epochs, "seed": seed}
        values = {key: CHECKS[key](value) for key, value in values.items()}
        self.per_class = _whole("per_class", per_class, 1, 21)     # clean has 21 of its rarest digit
        self.batch_size = _whole("batch_size", batch_size, 1, 10_000)
        self._data: dict[tuple[str, int], Split] = {}
        self._starts = {(m, 0): pv.start(0, LORA if m == "lora" else None) for m in MODES}
        probe = pv.fine_tuning_data(self.per_class, seed=0, kind=values["task"])
        self._start_live(device_choice(device, self._starts["llrd", 0], probe, batch_size=self.batch_size,
                                       threads=threads), threads)

        style, wide = {"description_width": "initial"}, widgets.Layout(width="400px")
        self.mode = widgets.ToggleButtons(options=[(label, key) for key, label in MODES.items()],
                                          value=values["mode"], style={"button_width": "190px"})
        self.head_lr = widgets.FloatLogSlider(value=values["head_lr"], base=10, min=HEAD_LR[0], max=HEAD_LR[1],
                                              step=0.1, description="head lr", readout_format=".1e",
                                              continuous_update=False, style=style, layout=wide)
        self.decay = widgets.FloatSlider(value=values["decay"], min=DECAY[0], max=DECAY[1], step=0.05,
                                         description="layer decay", readout_format=".2f",
                                         continuous_update=False, style=style, layout=wide)
        self.ratio = widgets.FloatLogSlider(value=values["ratio"], base=2, min=0, max=math.log2(RATIO[1]),
                                            step=1, description="LoRA+ ratio (B/A)", readout_format=".0f",
                                            continuous_update=False, style=style, layout=wide)
        self.task = widgets.Dropdown(options=list(TASKS), value=values["task"], description="task",
                                     style=style, layout=widgets.Layout(width="180px"))
        self.epochs = widgets.IntSlider(value=values["epochs"], min=EPOCHS[0], max=EPOCHS[1],
                                        description="epochs", continuous_update=False, style=style,
                                        layout=widgets.Layout(width="300px"))
        self.seed = widgets.BoundedIntText(value=values["seed"], min=SEED[0], max=SEED[1], description="seed",
                                           style=style, layout=widgets.Layout(width="140px"))
        self.chart = widgets.HTML(layout=widgets.Layout(flex="0 0 auto"))
        for control in (self.mode, self.head_lr, self.decay, self.ratio):
            control.observe(self._on_recipe, names="value")
        self._on_recipe()
        self._assemble([self.mode, widgets.VBox([self.head_lr, self.decay, self.ratio]),
                        widgets.HBox([self.task, self.epochs, self.seed, self.clear_button])],
                       beside=(self.chart,))
        if run_now:
            self.run()

    # ---- settings -------------------------------------------------------------------------
    def controls(self) -> dict[str, widgets.ValueWidget]:
        return {"mode": self.mode, "head_lr": self.head_lr, "decay": self.decay, "ratio": self.ratio,
                "task": self.task, "epochs": self.epochs, "seed": self.seed}

    def settings(self) -> dict:
        """The current control values, checked: mode, head_lr, decay, ratio, task, epochs, seed."""
        return {key: CHECKS[key](control.value) for key, control in self.controls().items()}

    def _check(self, name: str, value) -> None:
        CHECKS[name](value)

    def _on_recipe(self, _change=None) -> None:
        """Enable the sliders the mode uses and redraw the lr chart (no training: that is
        ``_on_change``'s)."""
        lora = self.mode.value == "lora"
        self.decay.disabled, self.ratio.disabled = lora, not lora
        try:
            s = {key: CHECKS[key](self.controls()[key].value) for key in ("mode", "head_lr", "decay", "ratio")}
        except ValueError:                          # the run reports the bad value
            self.chart.value = ""
            return
        model = self._starts[s["mode"], 0]
        self.chart.value = lr_chart(layer_lrs(model, groups_for(model, s)))

    def split(self, task: str, seed: int) -> Split:
        """The fine-tuning data of ``task`` drawn with ``seed``, on the lab's device."""
        if (task, seed) not in self._data:
            self._data[task, seed] = pv.fine_tuning_data(self.per_class, seed=seed, kind=task).to(self.device)
        return self._data[task, seed]

    def _label(self, s: dict) -> str:
        recipe = (f"LoRA: head {short_lr(s['head_lr'])}, B ×{s['ratio']:g}" if s["mode"] == "lora"
                  else f"LLRD: head {short_lr(s['head_lr'])}, decay {s['decay']:.2f}")
        extra = "" if s["task"] == "clean" else f", {s['task']}"
        extra += "" if s["seed"] == 0 else f", seed {s['seed']}"
        return f"#{self._made + 1} {recipe}{extra}"

    # ---- training -------------------------------------------------------------------------
    def start(self, s: dict | None = None) -> tuple[ViT, list[dict]]:
        """A run's starting model and its param groups, for settings ``s`` (default: the controls')."""
        s = self.settings() if s is None else s
        key = (s["mode"], s["seed"])
        if key not in self._starts:                  # loaded once, copied for every run
            self._starts[key] = pv.start(s["seed"], LORA if s["mode"] == "lora" else None)
        model = copy.deepcopy(self._starts[key])
        return model, groups_for(model, s)

    def _epochs(self, s: dict) -> Iterator[History]:
        model, groups = self.start(s)
        return training(model, torch.optim.AdamW(groups), self.split(s["task"], s["seed"]),
                        epochs=s["epochs"], batch_size=self.batch_size, seed=s["seed"],
                        device=self.device, label=self._label(s))

    def _judge(self, hist: History) -> str:
        if not hist.val_acc:
            return hist.stopped or "no epoch finished"
        best = hist.best_epoch if any(math.isfinite(v) for v in hist.val_loss) else None
        text = f"val accuracy <b>{hist.val_acc[-1]:.2f}</b>"
        text += f", best val loss {hist.val_loss[best - 1]:.3f} at epoch {best}" if best else ""
        return text + (f" — {hist.stopped}" if hist.stopped else "")


def vit_lab(**options) -> ViTLab:
    """``vit_lab()`` — the transformer lab with its defaults; options as in ``ViTLab``."""
    known = [name for name in inspect.signature(ViTLab.__init__).parameters if name != "self"]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"vit_lab got unknown option(s) {unknown}; it takes {', '.join(known)}")
    return ViTLab(**options)
