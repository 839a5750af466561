"""The live lab driven from Python: no browser, the asyncio loop run by the test."""
from __future__ import annotations

import asyncio
import math
import re
import time
import xml.etree.ElementTree as ET

import pytest
import torch

from lrlab import train as lrtrain
from lrlab.models import mlp
from lrlab.train import History
from lrlab.widgets import COLOURS, DEFAULT_LR, Lab, lab as make_lab, top_parts

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def small_lab():
    """A quick lab: 3 epochs, so each run takes a few hundredths of a second."""
    return Lab(mlp(hidden=(32,)), epochs=3, run_now=False)


def _drawn_labels(lab):
    """Spy on every frame the lab draws: (label, live?) in order."""
    drawn, draw = [], lab._draw

    def spy(hist, epochs, live=False):
        drawn.append((hist.label, live))
        draw(hist, epochs, live)
    lab._draw = spy
    return drawn


def _svg(lab) -> ET.Element:
    """The lab's figure, parsed: it must be an SVG document."""
    assert lab.image.format == "svg+xml"
    root = ET.fromstring(bytes(lab.image.value))
    assert root.tag == f"{SVG}svg"
    return root


def _line_colours(lab) -> list[str]:
    """The stroke colour of every run's line in the figure, earlier runs first (train, val, ...)."""
    return [re.search(r"stroke: (#[0-9a-f]{6})", path.get("style")).group(1).upper()
            for group in _svg(lab).iter(f"{SVG}g") if group.get("id") == "runs"
            for path in group.iter(f"{SVG}path") if "display: none" not in (path.get("style") or "")]


def _x_ticks(lab) -> list[int]:
    axis = next(g for g in _svg(lab).iter(f"{SVG}g") if g.get("id") == "matplotlib.axis_1")
    return [int(t.text) for t in axis.iter(f"{SVG}text") if t.text and t.text.isdigit()]


def _stderr(lab) -> str:
    return "".join(o.get("text", "") for o in lab.output.outputs if o.get("name") == "stderr")


def test_one_line_lab_has_a_slider_per_part_and_draws_a_healthy_default():
    lab = make_lab()
    assert list(lab.sliders) == ["body", "head"] == top_parts(lab.model)
    assert all(s.min == -5 and s.max == 0 and not s.continuous_update for s in lab.sliders.values())
    assert lab.optimizer.options == ("SGD momentum", "Adam", "AdamW") or \
        list(lab.optimizer.options) == ["SGD momentum", "Adam", "AdamW"]
    assert list(lab.dataset.options) == ["normal", "tiny", "leaky"]
    assert len(lab.runs) == 1 and _line_colours(lab) == [COLOURS[0]] * 2
    status = lab.status.value
    assert "healthy" in status and f"<b>{lab.device}</b>" in status and "val" in status, status
    assert lab.runs[0].lrs[0] == [DEFAULT_LR, DEFAULT_LR]


def test_setting_a_slider_retrains_from_the_same_weights_and_redraws(small_lab):
    lab = small_lab
    first = lab.run()
    before = lab.image.value

    async def move():
        lab.sliders["head"].value = 0.1
        assert lab._task is not None, "a slider change must start a run"
        await lab.wait()
    asyncio.run(move())
    assert len(lab.runs) == 2 and isinstance(lab.runs[-1], History)
    latest = lab.runs[-1]
    assert latest.lrs[0] == [DEFAULT_LR, pytest.approx(0.1)]
    assert latest.epochs == 3 and bytes(lab.image.value) != bytes(before)
    assert "head 1e-1" in latest.label and latest.label in lab.status.value
    # same initial weights: repeating the first settings repeats the first run exactly
    again = lab.run(head=DEFAULT_LR)
    assert again.train_loss == first.train_loss and again.val_loss == first.val_loss


def test_two_quick_changes_draw_only_the_last(small_lab):
    lab = small_lab
    drawn = _drawn_labels(lab)

    async def two_changes():
        lab.sliders["body"].value = 1e-3
        await asyncio.sleep(0)                 # the first run may start ...
        lab.sliders["body"].value = 1e-2       # ... but this change cancels it
        await lab.wait()
    asyncio.run(two_changes())
    assert len(lab.runs) == 1, [h.label for h in lab.runs]
    assert lab.runs[0].lrs[0][0] == pytest.approx(1e-2)
    assert drawn and all("body 1e-2" in label for label, _ in drawn), drawn
    assert drawn[-1][1] is False, "the last frame is the final figure"


def test_a_change_cancels_a_run_in_flight():
    lab = Lab(mlp(hidden=(32,)), epochs=40, run_now=False)
    drawn = _drawn_labels(lab)

    async def change_mid_run():
        lab.sliders["body"].value = 1e-3
        while not drawn:                       # the first run is streaming ...
            await asyncio.sleep(0.001)
        lab.sliders["body"].value = 1e-2       # ... when the newer value arrives
        cut = len(drawn)
        await lab.wait()
        return cut
    cut = asyncio.run(change_mid_run())
    assert [h.lrs[0][0] for h in lab.runs] == [pytest.approx(1e-2)], "the stale run never finishes"
    assert all("body 1e-2" in label for label, _ in drawn[cut:]), drawn


def test_streaming_draws_live_frames_before_the_final_one():
    lab = Lab(mlp(hidden=(32,)), epochs=12, run_now=False)
    drawn = _drawn_labels(lab)

    async def move():
        lab.epochs.value = 12 + 1
        await lab.wait()
    asyncio.run(move())
    assert drawn[0][1] is True, "the first frame is drawn live, after epoch 1"
    assert drawn[-1][1] is False and len(lab.runs) == 1


def test_a_bad_value_gives_a_clear_message_in_the_output(small_lab):
    lab = small_lab

    async def bad():
        lab.sliders["body"].value = float("nan")
        await lab.wait()
    asyncio.run(bad())
    assert not lab.runs
    message = _stderr(lab)
    assert "learning rate for 'body' must be a positive finite number" in message, message
    assert "ValueError" in lab.status.value
    with pytest.raises(ValueError, match="positive finite"):
        lab.run(body=-1.0)
    with pytest.raises(ValueError, match="unknown setting"):
        lab.set(learning_rate=0.1)


def test_an_exception_in_a_callback_appears_in_the_output(small_lab, monkeypatch):
    lab = small_lab

    def broken(name):
        raise RuntimeError("the data went missing")
    monkeypatch.setattr(lab, "split", broken)

    async def change():
        lab.dataset.value = "tiny"
        await lab.wait()
    asyncio.run(change())
    assert "RuntimeError: the data went missing" in _stderr(lab)


def test_overlays_stay_until_cleared(small_lab):
    lab = small_lab
    for lr in (1e-2, 3e-2, 1e-1):
        lab.run(body=lr)
    assert len(lab.runs) == 3
    lab.clear()
    assert len(lab.runs) == 1 and lab.runs[0].lrs[0][0] == pytest.approx(1e-1)
    assert _line_colours(lab) == [COLOURS[2]] * 2 and lab.legend.value.count("lrlab-run") == 1
    lab.run(body=3e-1)                           # numbering and colours go on after a clear
    assert lab.runs[-1].label.startswith("#4 ") and lab.colours == [COLOURS[2], COLOURS[3]]


def test_presets_and_optimizers_train(small_lab):
    lab = small_lab
    for optimizer, dataset in [("Adam", "tiny"), ("AdamW", "leaky"), ("SGD momentum", "normal")]:
        hist = lab.run(optimizer=optimizer, dataset=dataset, body=1e-3, head=1e-3)
        assert hist.epochs == 3 and all(math.isfinite(v) for v in hist.val_loss)
        assert optimizer in hist.label
    assert "tiny" in lab.runs[0].label and "leaky" in lab.runs[1].label


def test_threads_are_restored_after_a_run(small_lab):
    before = torch.get_num_threads()
    small_lab.run()
    assert torch.get_num_threads() == before


def test_wrong_part_name_fails_at_creation():
    with pytest.raises(ValueError, match="no part named"):
        Lab(mlp(hidden=(8,)), {"trunk": 1e-2}, run_now=False)
    with pytest.raises(TypeError):
        Lab("not a model", run_now=False)


def test_in_a_real_kernel_a_newer_slider_value_cancels_the_running_one():
    """The frontend's view: comm messages reach an ipykernel while the lab trains (asyncio)."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env={**__import__("os").environ,
                                                          "CUDA_VISIBLE_DEVICES": ""})
    try:
        def run(code: str) -> str:
            msg_id, out = kc.execute(code), []
            while True:
                msg = kc.get_iopub_msg(timeout=60)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "stream":
                    out.append(msg["content"]["text"])
                elif msg["msg_type"] == "error":
                    raise AssertionError(msg["content"]["evalue"])
                elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    return "".join(out)

        slider = run("from lrlab.models import mlp\nfrom lrlab.widgets import Lab\n"
                     "lab = Lab(mlp(hidden=(64,)), epochs=60, run_now=False)\n"
                     "print(lab.sliders['body'].model_id, end='')")

        def move(value):   # what the browser sends when a slider is released
            kc.session.send(kc.shell_channel.socket, "comm_msg", {
                "comm_id": slider, "data": {"method": "update", "state": {"value": value},
                                            "buffer_paths": []}})
        move(1e-2)
        deadline = time.monotonic() + 60
        while "training" not in run("print(lab.status.value)"):   # cells run between epochs
            assert time.monotonic() < deadline, "the run never started"
        move(5e-2)                 # the run for 1e-2 is under way when the newer value arrives
        deadline = time.monotonic() + 60
        while "5e-2" not in (labels := run("print([h.label for h in lab.runs])")):
            assert time.monotonic() < deadline, labels
            time.sleep(0.5)
        assert "1e-2" not in labels, f"the stale run finished: {labels}"
        assert run("print(lab.output.outputs)").strip() == "()"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_status_line_says_which_device_trained_and_why(monkeypatch):
    asked = Lab(mlp(hidden=(32,)), epochs=2, device="cpu")
    assert "on <b>cpu</b> (as you asked)" in asked.status.value
    monkeypatch.setattr(lrtrain, "available_devices", lambda: ["cuda", "cpu"])
    monkeypatch.setattr(lrtrain, "_choices", {})
    monkeypatch.setattr(lrtrain, "epoch_seconds",
                        lambda model, data, device, **_: {"cuda": 0.040, "cpu": 0.012}[device.type])
    chosen = Lab(mlp(hidden=(32,)), epochs=2)
    assert chosen.device.type == "cpu" and chosen.runs[-1].device == "cpu"
    assert ("on <b>cpu</b> (fastest for this model: one epoch takes cpu 12 ms, cuda 40 ms)"
            in chosen.status.value), chosen.status.value


def test_each_run_keeps_its_colour_for_life(small_lab):
    lab = small_lab
    seen = []
    for i, lr in enumerate((1e-2, 3e-2, 1e-1, 3e-3)):
        lab.run(body=lr)
        seen.append(_line_colours(lab)[-2:])           # the run on screen is drawn last
        assert _line_colours(lab)[:-2] == [c for colours in seen[:-1] for c in colours], i
        assert f"data-colour='{seen[-1][0]}'>" in lab.legend.value
    assert [c for c, _ in seen] == list(COLOURS[:4]) == lab.colours


def test_the_x_axis_spans_the_run_on_screen(small_lab):
    lab = small_lab
    lab.run(epochs=12)
    assert max(_x_ticks(lab)) >= 12
    lab.run(epochs=4)                                   # the longer run stays, clipped
    assert max(_x_ticks(lab)) <= 4 and len(_line_colours(lab)) == 4


def test_set_moves_the_controls_and_retrains_so_they_show_the_run_on_screen(small_lab):
    lab = small_lab
    lab.set(dataset="leaky", head=1e-1)                 # no event loop: it trains now
    assert lab.dataset.value == "leaky" and "leaky" in lab.runs[-1].label
    assert lab.runs[-1].lrs[0][1] == pytest.approx(0.1)

    async def in_a_kernel():                            # a loop runs: the run streams after the cell
        lab.set(optimizer="Adam")
        assert lab._task is not None
        await lab.wait()
    asyncio.run(in_a_kernel())
    assert lab.optimizer.value == "Adam" and "Adam" in lab.runs[-1].label and len(lab.runs) == 2
