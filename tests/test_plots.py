import matplotlib.pyplot as plt
import pytest

from lrlab.plots import PALETTE, loss_curves, lr_schedule
from lrlab.train import History

SEED = History.from_epochs([0.85, 0.60, 0.45, 0.40, 0.38], [0.90, 0.65, 0.50, 0.42, 0.40], "seed")


def test_loss_curves_draw_train_solid_and_val_dashed_per_run():
    other = History.from_epochs([1, 0.5], [1.1, 0.9], "other")
    fig = loss_curves({"a": SEED, "b": other}, faint=1)
    ax = fig.axes[0]
    styles = [(line.get_label(), line.get_linestyle(), line.get_color(), line.get_alpha())
              for line in ax.get_lines()]
    assert styles == [("a train", "-", PALETTE[0], 0.3), ("a val", "--", PALETTE[0], 0.3),
                      ("b train", "-", PALETTE[1], 1.0), ("b val", "--", PALETTE[1], 1.0)]
    assert list(ax.get_lines()[1].get_ydata()) == SEED.val_loss
    assert ax.get_title() and ax.get_xlabel() == "epoch" and ax.get_ylabel()
    assert ax.get_legend() is not None
    plt.close(fig)


def test_lr_schedule_needs_per_step_lrs():
    with pytest.raises(ValueError, match="no per-step learning rates"):
        lr_schedule(SEED)
    h = History(lrs=[[0.1, 0.01], [0.05, 0.005]], group_names=["body", "head"])
    fig = lr_schedule(h)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["body", "head"]
    plt.close(fig)


def test_plots_reject_what_is_not_a_history():
    with pytest.raises(TypeError, match="not an lrlab History"):
        loss_curves({"x": [1, 2]})
    with pytest.raises(ValueError, match="at least one"):
        loss_curves([])


def test_lr_schedule_draws_ratios_on_a_log_axis_and_keeps_a_frozen_zero():
    ratio = lr_schedule(History(lrs=[[0.1, 0.01], [0.05, 0.005]], group_names=["head", "body"]))
    assert ratio.axes[0].get_yscale() == "log"   # a 10x ratio is one decade, at any lr
    frozen = lr_schedule(History(lrs=[[0.1, 0.0], [0.1, 0.01]], group_names=["head", "body"]))
    assert frozen.axes[0].get_yscale() == "symlog"
    assert frozen.axes[0].get_ylim()[0] <= 0       # the frozen part's 0 is drawn, not dropped
    plt.close("all")


def test_live_curves_are_svg_with_the_axes_drawn_once_per_limits(monkeypatch):
    import xml.etree.ElementTree as ET
    from lrlab.plots import Curve, LiveCurves

    live, renders = LiveCurves(), []
    new_axes = live._new_axes
    monkeypatch.setattr(live, "_new_axes", lambda gid: renders.append(gid) or new_axes(gid))
    longer = Curve([2.0] * 40, [2.1] * 40, PALETTE[1], False)
    for epochs in (1, 2, 3):
        now = Curve([2.2, 1.0, float("nan")][:epochs], [2.3, 1.2, float("inf")][:epochs], PALETTE[0], True)
        svg = live.frame([longer, now], 3.2, 2.6)
    assert renders == ["axes"], "the axes are rendered once for the same limits"
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg" and b"Training and validation loss" in svg
    assert live.pixels == (614, 307) and root.get("viewBox") == "0 0 460.8 230.4"
    paths = [p for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("id") == "runs"
             for p in g.iter("{http://www.w3.org/2000/svg}path")]
    assert len(paths) == 4 and all(p.get("clip-path", "").startswith("url(#") for p in paths)  # clipped to the axes
    assert paths[2].get("d").count("L") == 1, "the non-finite epoch leaves a gap, not a line to it"
    live.frame([now], 40.2, 2.6)
    assert renders == ["axes", "axes"]
