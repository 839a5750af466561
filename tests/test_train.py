"""lrlab.train against a bare PyTorch loop doing the same steps."""
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lrlab import data, groups
from lrlab.models import mlp
from lrlab import train as lrtrain
from lrlab.train import History, choose_device, epoch_seconds, evaluate, pick_device, train, training

SPLIT = data.digits(n_train=200)


def bare_loop(model, opt, split, epochs, batch_size, seed):
    """The reference: the plainest loop with the same shuffling."""
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    n = len(split.y_train)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=order)
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad()
            F.cross_entropy(model(split.x_train[idx]), split.y_train[idx]).backward()
            opt.step()


def test_train_does_exactly_what_a_bare_loop_does():
    ours, ref = mlp(dropout=0.2), mlp(dropout=0.2)
    make = lambda m: torch.optim.SGD(groups.by_part(m, {"body": 0.01, "head": 0.1}), momentum=0.9)  # noqa: E731
    hist = train(ours, make(ours), SPLIT, epochs=3, batch_size=32, seed=5, device="cpu")
    bare_loop(ref, make(ref), SPLIT, epochs=3, batch_size=32, seed=5)
    for a, b in zip(ours.parameters(), ref.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert hist.epochs == 3 and hist.steps_per_epoch == 7 and len(hist.step_loss) == 21
    assert hist.val_loss[-1] == pytest.approx(evaluate(ours, SPLIT.x_val, SPLIT.y_val)[0])
    assert hist.group_names == ["body", "head"] and hist.lrs[0] == [0.01, 0.1]
    assert hist.train_loss[0] == pytest.approx(sum(hist.step_loss[:7]) / 7)


def test_update_ratios_measure_how_far_each_group_moved():
    model = mlp()
    start = [p.detach().clone() for p in model.head.parameters()]
    hist = train(model, torch.optim.SGD(groups.by_part(model, {"body": 0.0, "head": 0.1})), SPLIT,
                 epochs=1, device="cpu")
    moved = torch.sqrt(sum(((p - s) ** 2).sum() for p, s in zip(model.head.parameters(), start)))
    size = torch.sqrt(sum((s ** 2).sum() for s in start))
    assert hist.update_ratios[0][0] == 0.0
    assert hist.update_ratios[0][1] == pytest.approx((moved / size).item(), rel=1e-5)


def test_scheduler_lrs_are_recorded_per_step_and_per_group():
    model = mlp()
    opt = torch.optim.SGD(groups.by_part(model, {"body": 0.1, "head": 0.01}))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    hist = train(model, opt, SPLIT, epochs=2, scheduler=sched, device="cpu")
    assert hist.lrs[0] == [0.1, 0.01] and hist.lrs[-1] == [0.05, 0.005]


def test_keep_eval_keeps_frozen_batchnorm_statistics():
    model = mlp(batchnorm=True)
    model.body.requires_grad_(False)
    norm = model.body.block1.norm
    before = norm.running_mean.clone()
    train(model, torch.optim.SGD(model.head.parameters(), lr=0.1), SPLIT, epochs=1,
          keep_eval=[model.body], device="cpu")
    assert torch.equal(norm.running_mean, before)
    train(model, torch.optim.SGD(model.head.parameters(), lr=0.1), SPLIT, epochs=1, device="cpu")
    assert not torch.equal(norm.running_mean, before)  # the trap: train() mode moves them


def test_cancel_and_generator_stop_early():
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    hist = train(model, opt, SPLIT, epochs=10, should_stop=lambda: True, device="cpu")
    assert hist.epochs == 1 and hist.stopped == "cancelled"
    runs = training(mlp(), torch.optim.SGD(mlp().parameters(), lr=0.05), SPLIT, epochs=10)
    assert next(runs).epochs == 1


def test_a_diverging_run_stops_and_says_why():
    model = mlp()
    hist = train(model, torch.optim.SGD(model.parameters(), lr=1e6), SPLIT, epochs=20, device="cpu")
    assert hist.epochs < 20 and "NaN" in hist.stopped
    assert not all(math.isfinite(v) for v in hist.step_loss)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"epochs": 0}, ValueError, "epochs must be a positive whole number"),
    ({"batch_size": 2.5}, ValueError, "batch_size"),
    ({"scheduler_every": "batch"}, ValueError, "'epoch' or 'step'"),
])
def test_bad_options_are_explained(kwargs, error, message):
    model = mlp()
    with pytest.raises(error, match=message):
        train(model, torch.optim.SGD(model.parameters(), lr=0.1), SPLIT, **kwargs)


def test_wrong_objects_are_explained():
    model = mlp()
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        train(model, [{"params": model.parameters()}], SPLIT)
    with pytest.raises(TypeError, match="lrlab.data.digits"):
        train(model, torch.optim.SGD(model.parameters(), lr=0.1), (SPLIT.x_train, SPLIT.y_train))


def test_pick_device():
    assert pick_device("cpu").type == "cpu"
    assert pick_device().type in ("cuda", "mps", "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available here"):
            pick_device("cuda")


def test_choose_device_takes_the_faster_measured_device_once_per_model(monkeypatch):
    monkeypatch.setattr(lrtrain, "available_devices", lambda: ["cuda", "cpu"])
    monkeypatch.setattr(lrtrain, "_choices", {})
    calls = []

    def measure(model, data, device, batch_size, threads):
        calls.append((device.type, batch_size))
        return {"cuda": 0.040, "cpu": 0.012}[device.type]
    choice = choose_device(mlp(), SPLIT, measure=measure)
    assert choice.device.type == "cpu" and choice.seconds_per_epoch == {"cuda": 0.040, "cpu": 0.012}
    assert choice.reason == "fastest for this model: one epoch takes cpu 12 ms, cuda 40 ms"
    assert choose_device(mlp(seed=3), SPLIT, measure=measure) is choice, "same shapes: measured once"
    assert len(calls) == 2
    bigger = choose_device(mlp(hidden=(1024, 1024)), SPLIT, measure=lambda m, d, device, **_: {
        "cuda": 0.010, "cpu": 0.300}[device.type])
    assert bigger.device.type == "cuda" and "cuda 10 ms, cpu 300 ms" in bigger.reason


def test_choose_device_measures_nothing_when_the_cpu_is_all_there_is(monkeypatch):
    monkeypatch.setattr(lrtrain, "available_devices", lambda: ["cpu"])
    choice = choose_device(mlp(), SPLIT, measure=lambda *a, **k: pytest.fail("nothing to compare"))
    assert choice.device.type == "cpu" and choice.reason == "the only device here"


def test_epoch_seconds_times_a_real_epoch_and_leaves_the_model_and_random_state_alone():
    model, before = mlp(), torch.random.get_rng_state()
    weights = [p.clone() for p in model.parameters()]
    seconds = epoch_seconds(model, SPLIT, "cpu", batch_size=32)
    assert 0 < seconds < 5
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))
    assert torch.equal(torch.random.get_rng_state(), before)


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the check itself runs (minutes)")
def test_the_gpu_check_says_clearly_that_there_is_no_gpu():
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_gpu.py"
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no CUDA device" in done.stdout and "nothing measured" in done.stdout


def test_history_from_epochs():
    h = History.from_epochs([0.85, 0.6], [0.9, 0.65], label="seed")
    assert h.epochs == 2 and h.best_epoch == 2 and "seed" in h.summary()
    with pytest.raises(ValueError, match="as many"):
        History.from_epochs([1.0], [1.0, 0.5])
