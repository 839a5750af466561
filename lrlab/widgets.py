"""The live lab: one log-scale learning-rate slider per part of the model, retraining live.

Introduced in the live-lab lesson. ``Lab(model)`` is one line in a notebook::

    from lrlab.models import mlp
    from lrlab.widgets import Lab
    lab = Lab(mlp())          # sliders for 'body' and 'head', then the live curve
    lab                       # (the last line of a cell displays it)

Releasing a slider (or changing the optimizer, epochs, seed or dataset, or ``lab.set(...)``)
retrains the model from the same initial weights and streams the loss curve epoch by epoch, then
prints a status line: device and why it was chosen, seconds, final losses, and
``lrlab.diagnose``'s verdict with its advice (``unstable: … → body lr ×1/3``). Earlier runs stay as faint overlays until ``Clear runs``.
With ``device=None`` the lab trains where its model trains fastest: ``lrlab.train.choose_device``
times one epoch on each device once per session (on a CPU-only machine it measures nothing).

How it stays responsive without threads or a lab plugin:

* The kernel handles widget messages only between executions, so training runs in an
  ``asyncio`` task on the kernel's own event loop that yields after every epoch. A newer change
  cancels the stale task; only the latest settings are ever drawn.
* Figures are plain matplotlib (no pyplot, no ipympl) rendered to SVG (``lrlab.plots.LiveCurves``)
  into an ``Image`` widget shown at its own size, which JupyterLab, Notebook 7, VS Code and Colab
  all show, with ipywidgets 7.7 or 8: sharp at any zoom and pixel ratio. The axes are rendered
  once; a frame redraws only the run in flight. The legend is HTML beside it.
* Each run keeps the colour it was given when it started; the x axis spans the run on screen
  (an earlier, longer run is clipped); the controls always show the settings of that run.
* Errors raised while training or drawing go to the lab's own ``Output`` area, never only to
  the kernel log.

``lab.run(body=3e-2, head=1e-1)`` does the same synchronously and returns the ``History``: the
lesson uses it to run an experiment in a cell and check its result.

``LiveLab`` is what every live lab shares (runs and their colours, the figure, legend, status
line, streaming, ``set``/``run``/``clear``); ``Lab`` adds the per-part sliders, and
``lrlab.vit_lab.ViTLab`` the transformer's recipe controls.
"""
from __future__ import annotations

import asyncio
import copy
import html
import math
import time
import traceback
from collections.abc import Iterator, Mapping

import ipywidgets as widgets
import torch
from torch import nn

from . import data as lrdata
from .diagnose import diagnose
from .groups import by_part
from .plots import PALETTE, Curve, LiveCurves
from .sweep import ADAMW_DECAY, MOMENTUM, OPTIMIZERS
from .train import DeviceChoice, History, choose_device, cpu_threads, pick_device, training

LR_MIN_EXP, LR_MAX_EXP = -5, 0          # sliders span 1e-5 .. 1
DEFAULTS = {"optimizer": "SGD momentum", "epochs": 10, "seed": 0, "dataset": "normal"}
DEFAULT_LR = 3e-2                       # SGD momentum 0.9, 10 epochs: a healthy run on digits
MAX_OVERLAYS = 5                        # earlier runs drawn faint
COLOURS = tuple(c for c in PALETTE if c != "#F0E442")   # Okabe-Ito less its yellow, pale on white
DEBOUNCE_S = 0.0                        # one turn of the loop for a newer change before training
FRAME_INTERVAL_S = 0.12                 # at most one live frame per this many seconds


def make_optimizer(name: str, groups: list[dict]) -> torch.optim.Optimizer:
    """The lab's optimizer choices: SGD with momentum 0.9, Adam, AdamW (weight decay 0.01)."""
    if name == "SGD momentum":
        return torch.optim.SGD(groups, lr=DEFAULT_LR, momentum=MOMENTUM)
    if name == "Adam":
        return torch.optim.Adam(groups)
    if name == "AdamW":
        return torch.optim.AdamW(groups, weight_decay=ADAMW_DECAY)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def top_parts(model: nn.Module) -> list[str]:
    """The model's top-level children that own trainable parameters (``body``, ``head``)."""
    names = [name for name, child in model.named_children()
             if any(p.requires_grad for p in child.parameters())]
    if not names:
        raise ValueError("the model has no top-level part with trainable parameters; "
                         "pass parts={'name': lr, ...} naming its submodules")
    return names


def _check_lr(part: str, lr) -> float:
    try:
        value = float(lr)
    except (TypeError, ValueError):
        raise ValueError(f"learning rate for {part!r} must be a number, got {lr!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"learning rate for {part!r} must be a positive finite number, got {lr!r}")
    return value


def short_lr(value: float) -> str:
    """An lr as a run's label writes it: ``3e-2``, ``1``."""
    return f"{value:.0e}".replace("e-0", "e-").replace("e+00", "")


def device_choice(device, model: nn.Module, data: lrdata.Split, *, batch_size: int,
                  threads: int | None) -> DeviceChoice:
    """Where a lab trains: ``device`` as asked, or (``None``) the faster device for ``model`` on
    ``data``, measured by ``lrlab.train.choose_device``."""
    if device is None:
        return choose_device(model, data, batch_size=batch_size, threads=threads)
    return DeviceChoice(pick_device(device) if isinstance(device, str) else torch.device(device),
                        "as you asked")


class LiveLab(widgets.VBox):
    """What every live lab shares: the runs (``runs``, ``colours``), the figure (``image``,
    ``last_figure``, ``figures_drawn``), legend, status line and message area; retraining on a
    control change (streamed in an asyncio task), ``set``, ``run``, ``clear``.

    A lab calls ``_start_live`` first, builds its controls, then ``_assemble(rows)``; it defines
    ``controls()`` (name -> widget, what ``set`` accepts), ``settings()`` (the validated values),
    ``_check(name, value)``, ``_epochs(settings)`` (a run, yielding its ``History`` after every
    epoch) and ``_label(settings)``; ``_judge(history)`` ends the status line.
    """

    def _start_live(self, choice: DeviceChoice, threads: int | None) -> None:
        self.device_choice = choice
        self.device = choice.device
        self.threads = threads
        self.runs: list[History] = []
        self.colours: list[str] = []                # each run's colour, given when it started
        self._made = 0                              # runs finished since the lab was made
        self.figures_drawn = 0
        self.last_figure: bytes = b""
        self._generation = 0
        self._task: asyncio.Task | None = None
        self._quiet = False
        self.clear_button = widgets.Button(description="Clear runs", tooltip="forget earlier runs")
        self.curves = LiveCurves()
        width, height = self.curves.pixels
        self.image = widgets.Image(format="svg+xml",               # shown at its own size
                                   layout=widgets.Layout(width=f"{width}px", height=f"{height}px",
                                                         flex="0 0 auto"))
        self.legend = widgets.HTML(value="", layout=widgets.Layout(width="320px"))
        self.status = widgets.HTML(value="")
        self.output = widgets.Output()

    def _assemble(self, rows: list[widgets.Widget], beside: tuple[widgets.Widget, ...] = ()) -> None:
        """Lay out ``rows`` of controls above the figure (``beside`` it: more widgets, then the
        legend), the status line and the message area; every control retrains when it changes."""
        for control in self.controls().values():
            control.observe(self._on_change, names="value")
        self.clear_button.on_click(self._on_clear)
        widgets.VBox.__init__(self, [*rows, widgets.HBox([self.image, *beside, self.legend],
                                                         layout=widgets.Layout(flex_flow="row wrap")),
                                     self.status, self.output])

    # ---- what a lab defines -----------------------------------------------------------------
    def controls(self) -> dict[str, widgets.ValueWidget]:
        raise NotImplementedError

    def settings(self) -> dict:
        raise NotImplementedError

    def _check(self, name: str, value) -> None:
        """Raise a clear ValueError for a value ``name`` cannot take."""

    def _epochs(self, s: dict) -> Iterator[History]:
        raise NotImplementedError

    def _label(self, s: dict) -> str:
        raise NotImplementedError

    def _judge(self, hist: History) -> str:
        """The end of the status line: ``lrlab.diagnose``'s verdict and advice."""
        if hist.epochs < 2:
            return hist.stopped or "too few epochs to judge"
        verdict = diagnose(hist)
        return f"<b>{verdict.verdict}</b>: {verdict.reason} → <b>{verdict.advice}</b>"

    # ---- settings -------------------------------------------------------------------------
    def set(self, **values) -> None:
        """Set controls as a student would, and retrain: ``lab.set(epochs=20, seed=1)``.

        Inside a kernel the run streams once the cell is done, like a slider move; with no
        event loop running it trains now. Either way the controls show the run on screen."""
        self._apply(values)
        self.schedule()

    def _apply(self, values: dict) -> None:
        """Set controls without starting a run (``run`` starts its own)."""
        controls = self.controls()
        unknown = set(values) - set(controls)
        if unknown:
            raise ValueError(f"unknown setting(s) {sorted(unknown)}; the lab has {sorted(controls)}")
        for key, value in values.items():          # all checked before any control moves
            self._check(key, value)
        self._quiet = True
        try:
            for key, value in values.items():
                controls[key].value = value
        finally:
            self._quiet = False

    # ---- training -------------------------------------------------------------------------
    def _cpu_threads(self):
        return cpu_threads(self.threads, self.device)

    def run(self, **values) -> History:
        """Apply ``values`` (as in ``set``), train now, draw, and return the ``History``."""
        self.cancel()
        self._apply(values)
        s = self.settings()
        self._generation += 1
        hist = History()
        with self._cpu_threads():
            for hist in self._epochs(s):
                pass
        self._finish(hist, s["epochs"])
        return hist

    async def _run_async(self, generation: int) -> None:
        with self._cpu_threads():
            await self._stream(generation)

    async def _stream(self, generation: int) -> None:
        try:
            await asyncio.sleep(DEBOUNCE_S)     # changes that come together: only the last trains
            if generation != self._generation:
                return
            s = self.settings()
            self.status.value = "<b>training…</b>"
            last_frame, hist, gap = None, History(), FRAME_INTERVAL_S
            for hist in self._epochs(s):
                if generation != self._generation:
                    return
                now = time.perf_counter()
                if hist.epochs < s["epochs"] and (last_frame is None or now - last_frame >= gap):
                    self._draw(hist, s["epochs"], live=True)
                    gap = max(FRAME_INTERVAL_S, 4 * (time.perf_counter() - now))  # draw <= 1/4 of the time
                    self.status.value = f"<b>training…</b> epoch {hist.epochs}/{s['epochs']} on {hist.device}"
                    last_frame = time.perf_counter()
                await asyncio.sleep(0)          # let the kernel read newer widget messages
                if generation != self._generation:
                    return
            self._finish(hist, s["epochs"])
        except asyncio.CancelledError:
            raise
        except Exception as error:              # noqa: BLE001 - shown in the lab, not swallowed
            self.report(error)

    def _finish(self, hist: History, epochs: int) -> None:
        self.runs.append(hist)
        self.colours.append(self._colour())
        self._made += 1
        self._draw(hist, epochs)
        self.status.value = self.status_line(hist)

    def status_line(self, hist: History) -> str:
        return (f"{hist.label} — {hist.epochs} epochs on <b>{hist.device}</b> "
                f"({self.device_choice.reason}) in {hist.seconds:.2f} s; "
                f"final train {hist.train_loss[-1]:.3f}, val {hist.val_loss[-1]:.3f} · {self._judge(hist)}")

    def schedule(self) -> asyncio.Task | None:
        """Start a run for the current settings, cancelling any run in flight.

        Inside a kernel (or any running event loop) the run is an asyncio task; with no loop
        running it trains synchronously."""
        self.cancel()
        self._generation += 1
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.run()
            return None
        self._task = loop.create_task(self._run_async(self._generation))
        return self._task

    def cancel(self) -> None:
        """Cancel the run in flight, if any (it draws nothing more)."""
        self._generation += 1
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def wait(self) -> None:
        """Wait until the run in flight (if any) is done; for tests and scripts."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})      # a newer run may replace it meanwhile

    # ---- callbacks --------------------------------------------------------------------------
    def _on_change(self, change) -> None:
        if self._quiet:
            return
        try:
            self.schedule()
        except Exception as error:              # noqa: BLE001
            self.report(error)

    def _on_clear(self, _button=None) -> None:
        try:
            self.clear()
        except Exception as error:              # noqa: BLE001
            self.report(error)

    def clear(self) -> None:
        """Forget earlier runs (the latest one stays drawn) and clear the message area."""
        self.runs, self.colours = self.runs[-1:], self.colours[-1:]
        self.output.clear_output()
        if self.runs:
            self._draw(self.runs[-1], self.runs[-1].epochs)

    def report(self, error: BaseException) -> None:
        """Show an exception in the lab's output area and status line."""
        self.status.value = f"<b style='color:#D55E00'>{type(error).__name__}</b>: {html.escape(str(error))}"
        text = "".join(traceback.format_exception_only(type(error), error))
        self.output.append_stderr(f"The lab could not train: {text}")

    # ---- drawing ----------------------------------------------------------------------------
    def _colour(self) -> str:
        """The colour of the run in flight: the next one in turn, kept for the run's life."""
        return COLOURS[self._made % len(COLOURS)]

    def _draw(self, hist: History, epochs: int, live: bool = False) -> None:
        """Earlier runs faint, the run on screen strong, each in its own colour; train solid,
        validation dashed; the x axis spans ``epochs``, the run on screen's. SVG into the Image,
        the legend into its HTML."""
        shown = [(h, c) for h, c in zip(self.runs, self.colours) if h is not hist][-MAX_OVERLAYS:]
        shown.append((hist, next((c for h, c in zip(self.runs, self.colours) if h is hist), self._colour())))
        finite = [v for h, _ in shown for v in h.train_loss + h.val_loss if math.isfinite(v)]
        top = round(min(max(max(finite, default=0.0), 2.5), 4.0) * 1.05, 3)
        curves = [Curve(h.train_loss, h.val_loss, colour, h is hist) for h, colour in shown]
        self.last_figure = self.curves.frame(curves, epochs + 0.2, top)
        self.image.value = self.last_figure
        self.legend.value = self._legend(shown, hist)
        self.figures_drawn += 1

    @staticmethod
    def _legend(shown: list[tuple[History, str]], hist: History) -> str:
        def swatch(colour, opacity=1.0, dash="solid"):
            return (f"<span style='display:inline-block;width:26px;margin-right:6px;vertical-align:middle;"
                    f"border-top:3px {dash} {colour};opacity:{opacity}'></span>")
        rows = [f"<div class='lrlab-run' data-colour='{colour}'>{swatch(colour, 1.0 if h is hist else 0.45)}"
                f"{html.escape(h.label)}</div>" for h, colour in shown]
        key = f"<div>{swatch('#777')}train &nbsp; {swatch('#777', dash='dashed')}validation</div>"
        return "<div class='lrlab-legend' style='font-size:11px;line-height:1.7'>" + "".join(rows) + key + "</div>"


class Lab(LiveLab):
    """Per-group learning-rate sliders that retrain ``model`` live; see the module docstring.

    ``parts`` names the groups (default: the model's top-level parts) or maps each name to its
    starting lr. ``runs`` lists every finished ``History`` (``colours`` their colours);
    ``figures_drawn`` counts frames, ``last_figure`` is the latest (SVG bytes).
    """

    def __init__(self, model: nn.Module, parts=None, *, optimizer: str = DEFAULTS["optimizer"],
                 epochs: int = DEFAULTS["epochs"], seed: int = DEFAULTS["seed"],
                 dataset: str = DEFAULTS["dataset"], batch_size: int = 32, device=None,
                 threads: int | None = 1, run_now: bool = True):
        if not isinstance(model, nn.Module):
            raise TypeError(f"Lab needs a torch nn.Module with named parts, got {type(model).__name__}")
        if parts is None:
            parts = top_parts(model)
        if not isinstance(parts, Mapping):
            parts = {name: DEFAULT_LR for name in parts}
        parts = {name: _check_lr(name, lr) for name, lr in parts.items()}
        by_part(model, parts)                       # fail now, loudly, on a wrong part name
        self.model = model
        self.initial_state = copy.deepcopy(model.state_dict())
        self._start_live(device_choice(device, model, lrdata.preset(dataset), batch_size=batch_size,
                                       threads=threads), threads)
        self.batch_size = batch_size
        self._splits: dict[str, lrdata.Split] = {}

        style = {"description_width": "initial"}
        self.sliders = {
            name: widgets.FloatLogSlider(value=lr, base=10, min=LR_MIN_EXP, max=LR_MAX_EXP, step=0.1,
                                         description=f"{name} lr", continuous_update=False,
                                         readout_format=".1e", style=style,
                                         layout=widgets.Layout(width="420px"))
            for name, lr in parts.items()}
        self.optimizer = widgets.Dropdown(options=list(OPTIMIZERS), value=optimizer,
                                          description="optimizer", style=style,
                                          layout=widgets.Layout(width="220px"))
        self.epochs = widgets.IntSlider(value=epochs, min=2, max=60, description="epochs",
                                        continuous_update=False, style=style,
                                        layout=widgets.Layout(width="300px"))
        self.seed = widgets.BoundedIntText(value=seed, min=0, max=10_000, description="seed",
                                           style=style, layout=widgets.Layout(width="140px"))
        self.dataset = widgets.Dropdown(options=list(lrdata.PRESETS), value=dataset,
                                        description="dataset", style=style,
                                        layout=widgets.Layout(width="200px"))
        self._assemble([widgets.VBox(list(self.sliders.values())),
                        widgets.HBox([self.optimizer, self.dataset]),
                        widgets.HBox([self.epochs, self.seed, self.clear_button])])
        if run_now:
            self.run()

    # ---- settings -------------------------------------------------------------------------
    def controls(self) -> dict[str, widgets.ValueWidget]:
        return {**self.sliders, "optimizer": self.optimizer, "epochs": self.epochs,
                "seed": self.seed, "dataset": self.dataset}

    def settings(self) -> dict:
        """The current control values (validated): lrs by part, optimizer, epochs, seed, dataset."""
        return {"lrs": {name: _check_lr(name, s.value) for name, s in self.sliders.items()},
                "optimizer": self.optimizer.value, "epochs": int(self.epochs.value),
                "seed": int(self.seed.value), "dataset": self.dataset.value}

    def _check(self, name: str, value) -> None:
        if name in self.sliders:
            _check_lr(name, value)

    def split(self, name: str) -> lrdata.Split:
        if name not in self._splits:
            self._splits[name] = lrdata.preset(name).to(self.device)
        return self._splits[name]

    def _label(self, s: dict) -> str:
        lrs = " ".join(f"{name} {short_lr(lr)}" for name, lr in s["lrs"].items())
        extra = "" if s["dataset"] == "normal" else f", {s['dataset']}"
        extra += "" if s["seed"] == 0 else f", seed {s['seed']}"
        return f"#{self._made + 1} {s['optimizer']}: {lrs}{extra}"

    # ---- training -------------------------------------------------------------------------
    def _epochs(self, s: dict) -> Iterator[History]:
        """Fresh weights (the lab's initial ones), fresh optimizer: yields after every epoch."""
        model = copy.deepcopy(self.model)
        model.load_state_dict(self.initial_state)
        optimizer = make_optimizer(s["optimizer"], by_part(model, s["lrs"]))
        return training(model, optimizer, self.split(s["dataset"]), epochs=s["epochs"],
                        batch_size=self.batch_size, seed=s["seed"], device=self.device,
                        label=self._label(s))


def lab(model: nn.Module | None = None, **options) -> Lab:
    """``lab()`` — the default lab on ``lrlab.models.mlp()``; options as in ``Lab``."""
    if model is None:
        from .models import mlp
        model = mlp()
    return Lab(model, **options)
