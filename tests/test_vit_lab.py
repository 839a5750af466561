"""The transformer lab driven from Python: no browser, the asyncio loop run by the test.

Runs are tiny (3 samples per class, 2 full-batch epochs) so each takes a fraction of a second."""
from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET

import pytest

from lrlab import pretrained_vit as pv
from lrlab import train as lrtrain
from lrlab.vit_lab import LORA, WEIGHT_DECAY, ViTLab, vit_lab

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def small_lab():
    return vit_lab(epochs=2, per_class=3, batch_size=30, device="cpu", run_now=False)


def _bars(lab) -> dict[str, float]:
    """The lr chart's bars: layer -> lr, read from the SVG the lab shows."""
    root = ET.fromstring(lab.chart.value)
    return {rect.get("data-layer"): float(rect.get("data-lr")) for rect in root.iter(f"{SVG}rect")}


def _heights(lab) -> dict[str, float]:
    root = ET.fromstring(lab.chart.value)
    return {rect.get("data-layer"): float(rect.get("height")) for rect in root.iter(f"{SVG}rect")}


def _move(lab, control, value):
    """A slider released in the browser: the lab retrains in an asyncio task."""
    async def go():
        control.value = value
        assert lab._task is not None, "a control change must start a run"
        await lab.wait()
    asyncio.run(go())
    return lab.runs[-1]


def test_a_slider_retrains_with_the_groups_of_llrd_and_lora_plus(small_lab):
    lab = small_lab
    hist = _move(lab, lab.decay, 0.8)
    expected = pv.llrd(pv.start(0), lab.head_lr.value, 0.8, weight_decay=WEIGHT_DECAY)
    assert hist.group_names == [g["name"] for g in expected]
    assert hist.lrs[0] == pytest.approx([g["lr"] for g in expected])
    assert len(set(hist.lrs[0])) == 6, "embeddings, four blocks and the head each get their own lr"

    _move(lab, lab.mode, "lora")
    hist = _move(lab, lab.ratio, 4.0)
    expected = pv.lora_plus(pv.start(0, LORA), lab.head_lr.value, 4.0)
    assert hist.group_names == [g["name"] for g in expected] == ["lora_A", "lora_B", "rest"]
    assert hist.lrs[0] == pytest.approx([g["lr"] for g in expected])
    assert hist.lrs[0][1] == pytest.approx(4.0 * hist.lrs[0][0])
    assert len(lab.runs) == 3 and "LoRA" in hist.label and "×4" in hist.label


def test_every_retrain_starts_from_the_same_weights(small_lab):
    lab = small_lab
    first = lab.run()
    lab.run(head_lr=1e-2)
    again = lab.run(head_lr=first.lrs[0][-1])
    assert again.train_loss == first.train_loss and again.val_loss == first.val_loss
    other_seed = lab.run(seed=1)
    assert other_seed.train_loss != first.train_loss and "seed 1" in other_seed.label


def test_the_lr_chart_follows_the_decay_slider_and_the_mode(small_lab):
    lab = small_lab
    bars, heights = _bars(lab), _heights(lab)
    assert list(bars) == ["embed", "block 1", "block 2", "block 3", "block 4", "head"]
    head, decay = lab.head_lr.value, lab.decay.value
    assert bars["embed"] == pytest.approx(head * decay ** 5, rel=1e-3)
    lab.decay.value = 0.5                        # the chart moves with the control, before any run
    moved, moved_heights = _bars(lab), _heights(lab)
    assert moved["head"] == bars["head"] and moved_heights["head"] == heights["head"]
    assert moved["embed"] == pytest.approx(head * 0.5 ** 5, rel=1e-3)
    assert moved_heights["embed"] < heights["embed"] and moved_heights["block 4"] < heights["block 4"]
    lab.mode.value = "lora"
    lora = _bars(lab)
    assert list(lora) == ["lora_A", "lora_B", "head"]
    assert lora["lora_B"] == pytest.approx(lab.ratio.value * lora["lora_A"], rel=1e-3)


def test_lora_mode_freezes_the_body_and_disables_the_decay_slider(small_lab):
    lab = small_lab
    assert lab.ratio.disabled and not lab.decay.disabled
    lab.set(mode="lora")
    assert lab.decay.disabled and not lab.ratio.disabled
    model, groups = lab.start()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(re.search(r"lora_[AB]$|^head\.", n) for n in trainable), trainable
    assert {n for n in trainable if n.startswith("head.")} == {"head.weight", "head.bias"}
    in_groups = {id(p) for g in groups for p in g["params"]}
    assert in_groups == {id(p) for p in model.parameters() if p.requires_grad}


def test_a_lora_run_leaves_the_body_where_it_was(small_lab, monkeypatch):
    lab = small_lab
    lab.set(mode="lora")
    models = []
    start = lab.start
    monkeypatch.setattr(lab, "start", lambda s=None: models.append(start(s)) or models[-1])
    lab.run(head_lr=1e-2)
    model, _ = models[-1]
    pretrained = pv.load().state_dict()
    for name, p in model.named_parameters():
        if not p.requires_grad:
            original = name.replace(".base.", ".")
            assert (p.detach() == pretrained[original]).all(), name
    assert any(p.requires_grad and name.endswith("lora_B") and p.abs().sum() > 0
               for name, p in model.named_parameters()), "lora_B never moved"


def test_device_choice_honours_device_cpu_and_measures_the_labs_workload(monkeypatch):
    asked = vit_lab(epochs=2, per_class=3, batch_size=30, device="cpu")
    assert "on <b>cpu</b> (as you asked)" in asked.status.value, asked.status.value
    measured = []

    def fake(model, data, device, *, batch_size, threads):
        measured.append((device.type, len(data.y_train), batch_size, threads))
        return {"cuda": 0.005, "cpu": 0.060}[device.type]
    monkeypatch.setattr(lrtrain, "available_devices", lambda: ["cuda", "cpu"])
    monkeypatch.setattr(lrtrain, "_choices", {})
    monkeypatch.setattr(lrtrain, "epoch_seconds", fake)
    chosen = ViTLab(per_class=7, batch_size=35, run_now=False)
    assert chosen.device.type == "cuda"
    assert chosen.device_choice.reason == "fastest for this model: one epoch takes cuda 5 ms, cpu 60 ms"
    assert sorted(measured) == [("cpu", 70, 35, 1), ("cuda", 70, 35, 1)]
    assert ViTLab(per_class=7, batch_size=35, device="cpu", run_now=False).device.type == "cpu"


@pytest.mark.parametrize("values, message", [
    ({"mode": "adapter"}, "mode must be one of 'llrd', 'lora'"),
    ({"decay": 0.2}, "decay must be a number from 0.5 to 1"),
    ({"ratio": 100}, "ratio must be a number from 1 to 64"),
    ({"head_lr": -1e-3}, "head_lr must be a number from 1e-05 to 0.1"),
    ({"head_lr": "fast"}, "head_lr must be a number"),
    ({"task": "rotated"}, "task must be one of 'clean', 'inverted'"),
    ({"epochs": 2.5}, "epochs must be a whole number from 2 to 40"),
    ({"learning_rate": 1e-3}, r"unknown setting\(s\) \['learning_rate'\]"),
])
def test_bad_values_raise_clear_errors_and_move_nothing(small_lab, values, message):
    lab = small_lab
    before = lab.settings()
    with pytest.raises(ValueError, match=message):
        lab.set(seed=3, **values)
    assert lab.settings() == before and not lab.runs
    unknown = "learning_rate" in values
    with pytest.raises(TypeError if unknown else ValueError,
                       match="unknown option" if unknown else message):
        vit_lab(run_now=False, device="cpu", **values)


def test_bad_sizes_and_a_bad_slider_value_are_reported():
    with pytest.raises(ValueError, match="per_class must be a whole number from 1 to 21"):
        vit_lab(per_class=50, run_now=False, device="cpu")
    with pytest.raises(ValueError, match="batch_size must be a whole number"):
        vit_lab(batch_size=0, run_now=False, device="cpu")
    lab = vit_lab(epochs=2, per_class=3, batch_size=30, device="cpu", run_now=False)

    async def bad():
        lab.head_lr.value = float("nan")
        await lab.wait()
    asyncio.run(bad())
    stderr = "".join(o.get("text", "") for o in lab.output.outputs if o.get("name") == "stderr")
    assert "head_lr must be a number from 1e-05 to 0.1, got nan" in stderr and not lab.runs
    assert "ValueError" in lab.status.value
