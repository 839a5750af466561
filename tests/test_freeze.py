"""lrlab.freeze: freeze/unfreeze, fingerprints, and the step measurements of the freezing lesson."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lrlab.data import digits
from lrlab.freeze import (StepCost, changed, count, fingerprint, freeze, step_cost, step_times,
                          training_step, unfreeze)
from lrlab.models import mlp
from lrlab.train import train


@pytest.fixture(scope="module")
def data():
    return digits(n_train=200)


def test_freeze_turns_off_grad_and_train_mode_and_returns_the_module():
    model = mlp(batchnorm=True)
    assert freeze(model.body) is model.body
    assert not any(p.requires_grad for p in model.body.parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    assert not any(m.training for m in model.body.modules())
    assert count(model) == (sum(p.numel() for p in model.head.parameters()),
                            sum(p.numel() for p in model.body.parameters()))


def test_unfreeze_undoes_freeze():
    model = mlp(batchnorm=True)
    freeze(model)
    assert unfreeze(model.body.block2) is model.body.block2
    assert all(p.requires_grad for p in model.body.block2.parameters())
    assert model.body.block2.training and not model.body.block1.training
    assert count(model)[0] == sum(p.numel() for p in model.body.block2.parameters())


def test_unfreeze_under_a_scheduler_works_with_every_group_built_up_front(data):
    model = mlp()
    freeze(model.body.block1)
    opt = torch.optim.SGD([{"params": model.body.block1.parameters(), "lr": 0.01},
                           {"params": [*model.body.block2.parameters(), *model.head.parameters()],
                            "lr": 0.05}], momentum=0.9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.5 ** epoch)
    before = fingerprint(model.body.block1)
    train(model, opt, data, epochs=1, scheduler=scheduler)
    assert changed(before, model.body.block1) == []          # skipped while its grad is None
    unfreeze(model.body.block1)
    train(model, opt, data, epochs=1, scheduler=scheduler)
    assert len(changed(before, model.body.block1)) == 2
    assert scheduler.get_last_lr() == pytest.approx([0.0025, 0.0125])


def test_add_param_group_under_lambdalr_fails_at_the_next_step():
    model = mlp()
    opt = torch.optim.SGD(model.head.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 0.5 ** epoch)
    opt.step()
    scheduler.step()
    opt.add_param_group({"params": unfreeze(freeze(model.body)).parameters(), "lr": 0.01})
    opt.step()
    with pytest.raises(ValueError, match=r"zip\(\) argument 2 is shorter than argument 1"):
        scheduler.step()


@pytest.mark.parametrize("bad", [freeze, unfreeze, fingerprint])
def test_module_helpers_reject_non_modules(bad):
    with pytest.raises(TypeError, match="Module"):
        bad(torch.zeros(3))


def test_fingerprint_holds_copies_of_parameters_and_buffers():
    model = mlp(hidden=(8,), batchnorm=True)
    fp = fingerprint(model)
    assert set(fp) == {n for n, _ in model.named_parameters()} | {n for n, _ in model.named_buffers()}
    assert "body.block1.norm.running_mean" in fp and "body.block1.norm.num_batches_tracked" in fp
    with torch.no_grad():
        model.head.bias += 1
    assert fp["head.bias"].abs().max() < 1  # a copy, not a view of the live tensor
    assert changed(fp, model) == ["head.bias"]


def test_changed_is_exact_and_treats_nan_as_equal_to_nan():
    before = {"a": torch.tensor([1.0, math.nan]), "b": torch.tensor([1, 2])}
    assert changed(before, {"a": torch.tensor([1.0, math.nan]), "b": torch.tensor([1, 2])}) == []
    assert changed(before, {"a": torch.tensor([1.0 + 1e-7, math.nan]), "b": torch.tensor([1, 2])}) == ["a"]
    assert changed(before, {"a": torch.tensor([1.0, math.nan]), "b": torch.tensor([1, 3])}) == ["b"]
    assert changed(before, {"a": torch.tensor([1.0, 1.0]), "b": torch.tensor([[1, 2]])}) == ["a", "b"]
    with pytest.raises(ValueError, match="different modules"):
        changed(before, {"a": torch.tensor([1.0, math.nan])})
    with pytest.raises(TypeError):
        changed([1], before)


def test_changed_against_a_trusted_reference_after_training(data):
    """Compute the same thing twice: changed() and a plain loop over state_dict."""
    model = mlp(hidden=(16, 16), batchnorm=True)
    freeze(model.body.block1)
    state0 = {k: v.clone() for k, v in model.state_dict().items()}
    fp = fingerprint(model)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    train(model, opt, data, epochs=1)
    reference = [k for k, v in model.state_dict().items() if not torch.equal(v, state0[k])]
    assert changed(fp, model) == reference
    # without keep_eval the frozen block's BatchNorm statistics still moved
    assert "body.block1.norm.running_mean" in reference
    assert not any(k.startswith("body.block1.linear") for k in reference)


def test_keep_eval_keeps_frozen_batchnorm_still(data):
    model = mlp(hidden=(16, 16), batchnorm=True)
    freeze(model.body)
    fp = fingerprint(model)
    opt = torch.optim.SGD(model.head.parameters(), lr=0.1, momentum=0.9)
    train(model, opt, data, epochs=2, keep_eval=[model.body])
    assert changed(fp, model) == ["head.weight", "head.bias"]


def test_step_cost_counts_less_for_a_frozen_body_than_for_lr_zero():
    x, y = torch.rand(64, 64), torch.randint(0, 10, (64,))
    a, b = mlp(), mlp()
    opt_a = torch.optim.Adam([{"params": a.body.parameters(), "lr": 0.0},
                              {"params": a.head.parameters()}])
    freeze(b.body)
    opt_b = torch.optim.Adam(b.head.parameters())
    before = fingerprint(a.body)
    cost_a, cost_b = step_cost(a, opt_a, x, y), step_cost(b, opt_b, x, y)
    assert isinstance(cost_a, StepCost) and "MiB" in str(cost_a) and "GFLOP" in str(cost_a)
    assert changed(before, a.body) == []  # lr 0 kept the body still...
    head = sum(p.numel() * 4 for p in b.head.parameters())
    assert cost_a.gradients == sum(p.numel() * 4 for p in a.parameters())  # ...at full price
    assert cost_b.gradients == head
    assert cost_a.state == 2 * cost_a.gradients and cost_b.state == 2 * head  # Adam: two moments
    assert cost_b.activations < cost_a.activations
    assert cost_b.flops < cost_a.flops


def test_step_cost_flops_match_the_matmul_count():
    model = nn.Linear(8, 4, bias=False)
    x, y = torch.rand(2, 8), torch.randint(0, 4, (2,))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    # forward 2*2*8*4; backward: weight grad only (the input needs none)
    assert step_cost(model, opt, x, y).flops == 2 * (2 * 2 * 8 * 4)


def test_training_step_trains(data):
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    step = training_step(model, opt, data.x_train[:64], data.y_train[:64])
    first = step()
    for _ in range(20):
        last = step()
    assert last < first


def test_step_times_calls_in_turn_and_reports_the_fastest():
    calls = []
    times = step_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                       repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4
    assert set(times) == {"a", "b"} and all(0 <= t < 1 for t in times.values())
    with pytest.raises(ValueError):
        step_times({})
    with pytest.raises(ValueError):
        step_times({"a": lambda: None}, repeats=0)
