"""Batched runs equal one-at-a-time training, run by run (same seed: same weights, same batches)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest
import torch

from torch import nn

from lrlab import pretrained
from lrlab.data import preset
from lrlab.diagnose import diagnose
from lrlab.groups import by_part
from lrlab.models import mlp
from lrlab.sweep import Runs, lr_grid, mean_grid, train_runs
from lrlab.train import DIVERGED, train
from lrlab.widgets import make_optimizer

DATA = preset("normal")
SMALL = lambda seed: mlp(hidden=(32, 32), seed=seed)  # noqa: E731


def ordinary(make_model, optimizer, lrs, seed, epochs, data=DATA, batch_size=32):
    """The reference: one model, one torch optimizer with a group per part, lrlab.train.train."""
    model = make_model(seed)
    opt = make_optimizer(optimizer, by_part(model, lrs))
    return train(model, opt, data, epochs=epochs, batch_size=batch_size, seed=seed)


def assert_same_run(batched, reference):
    """Every recorded number of a batched run equals the ordinary run's, to 1e-4 relative."""
    assert batched.group_names == reference.group_names
    assert batched.epochs == reference.epochs and batched.stopped == reference.stopped
    assert batched.steps_per_epoch == reference.steps_per_epoch and batched.lrs == reference.lrs
    for field in ("step_loss", "train_loss", "val_loss", "update_ratios"):
        torch.testing.assert_close(torch.tensor(getattr(batched, field)),
                                   torch.tensor(getattr(reference, field)), rtol=1e-4, atol=1e-6,
                                   equal_nan=True, msg=lambda m: f"{field}: {m}")
    torch.testing.assert_close(torch.tensor(batched.val_acc), torch.tensor(reference.val_acc),
                               rtol=0, atol=2e-3, equal_nan=True)


@pytest.mark.parametrize("optimizer, lrs", [("SGD momentum", (3e-2, 1e-1)), ("Adam", (1e-3, 1e-2)),
                                            ("AdamW", (1e-3, 1e-2))])
@pytest.mark.parametrize("method", ["auto", "vmap"])
def test_each_run_equals_an_ordinary_run_over_lrs_and_seeds(optimizer, lrs, method):
    low, high = lrs
    configs = [({"body": low, "head": high}, seed) for seed in (0, 1, 7)]
    configs += [({"body": high, "head": low}, 1), ({"body": 0.0, "head": high}, 7)]
    runs = train_runs(SMALL, DATA, configs, optimizer=optimizer, epochs=3, method=method)
    assert isinstance(runs, Runs) and len(runs) == 5 and runs.parts == ["body", "head"]
    assert runs.val_loss.shape == runs.train_loss.shape == runs.val_acc.shape == (5, 3)
    assert runs.step_loss.shape == (5, 3 * 40) and runs.update_ratios.shape == (5, 3, 2)
    for k, (lr, seed) in enumerate(configs):
        assert_same_run(runs.history(k), ordinary(SMALL, optimizer, lr, seed, epochs=3))
    assert runs.history(4).update_ratios[0][0] == 0.0, "lr 0: the body never moves"
    assert runs.val_loss[0, -1] != runs.val_loss[1, -1], "another seed is another run"


@pytest.mark.parametrize("optimizer, lrs", [("SGD momentum", (1e-2, 3e-2)), ("Adam", (1e-3, 3e-3))])
def test_seeds_given_in_any_order_share_their_batches_and_come_back_in_order(optimizer, lrs):
    """Two seeds, two configurations each, interleaved: the engine groups them by seed (one
    first-layer product per seed) and returns the rows in the order they were given."""
    low, high = lrs
    first, second = {"body": high, "head": low}, {"body": low, "head": high}
    configs = [(first, 5), (first, 2), (second, 5), (second, 2)]
    runs = train_runs(SMALL, DATA, configs, optimizer=optimizer, epochs=2)
    assert runs.configs == configs
    for k, (lr, seed) in enumerate(configs):
        assert_same_run(runs.history(k), ordinary(SMALL, optimizer, lr, seed, epochs=2))


def one_at_a_time(optimizer, body, head, epochs, hidden=(32, 32)):
    model = mlp(hidden=hidden)
    opt = make_optimizer(optimizer, by_part(model, {"body": body, "head": head}))
    return train(model, opt, DATA, epochs=epochs, seed=0)


@pytest.mark.parametrize("optimizer, lrs", [("SGD momentum", [1e-2, 1e-1]),
                                            ("Adam", [1e-3, 1e-2]),
                                            ("AdamW", [1e-3, 1e-2])])
@pytest.mark.parametrize("method", ["auto", "vmap"])
def test_each_cell_matches_an_ordinary_run(optimizer, lrs, method):
    grid = lr_grid(mlp(hidden=(32, 32)), DATA, lrs, lrs, optimizer=optimizer, epochs=3, method=method)
    assert grid.val_loss.shape == (2, 2, 3)
    for i, j in [(0, 1), (1, 0), (1, 1)]:
        hist = one_at_a_time(optimizer, lrs[i], lrs[j], epochs=3)
        torch.testing.assert_close(grid.val_loss[i, j], torch.tensor(hist.val_loss), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(grid.train_loss[i, j], torch.tensor(hist.train_loss), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(grid.val_acc[i, j], torch.tensor(hist.val_acc), rtol=0, atol=2e-3)


def test_best_cell_heatmap_and_divergence():
    lrs = [1e-2, 1e-1, 5.0]
    grid = lr_grid(mlp(hidden=(16,)), DATA, lrs, lrs, epochs=2)
    final = grid.final
    assert math.isnan(final[2, 2].item()) or final[2, 2].item() > 2.0, "lr 5 everywhere blows up"
    row, col, loss = grid.best()
    finite = final[torch.isfinite(final)]
    assert loss == pytest.approx(finite.min().item())
    lr, single = grid.best_single()
    assert lr in lrs and single >= loss
    fig = grid.heatmap()
    ax = fig.axes[0]
    assert ax.get_title() and ax.get_xlabel() == "head learning rate" and ax.get_ylabel() == "body learning rate"
    assert "best" in ax.get_legend().get_texts()[0].get_text()
    hist = grid.history(row, col)
    assert hist.val_loss[-1] == pytest.approx(loss)
    plt.close(fig)


def test_refuses_what_it_cannot_batch_honestly():
    with pytest.raises(ValueError, match="BatchNorm"):
        lr_grid(mlp(hidden=(8,), batchnorm=True), DATA, [1e-2], [1e-2], epochs=1)
    with pytest.raises(ValueError, match="dropout"):
        lr_grid(mlp(hidden=(8,), dropout=0.5), DATA, [1e-2], [1e-2], epochs=1)
    with pytest.raises(ValueError, match="positive"):
        lr_grid(mlp(hidden=(8,)), DATA, [0.0], [1e-2], epochs=1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        lr_grid(mlp(hidden=(8,)), DATA, [1e-2], [1e-2], optimizer="RMSprop")
    with pytest.raises(ValueError, match="neither"):
        lr_grid(mlp(hidden=(8, 8)), DATA, [1e-2], [1e-2], parts=("body.block1", "head"))


def test_threads_are_restored():
    before = torch.get_num_threads()
    lr_grid(mlp(hidden=(8,)), DATA, [1e-2], [1e-2], epochs=1, threads=before + 1)
    assert torch.get_num_threads() == before


def test_per_block_parts_and_a_batch_that_does_not_divide_the_data():
    parts = {"body.block1": 1e-2, "body.block2": 3e-2, "head": 1e-1}
    configs = [(parts, 2), ({**parts, "body.block1": 1e-1}, 5)]
    runs = train_runs(SMALL, DATA, configs, epochs=2, batch_size=50)
    for k, (lrs, seed) in enumerate(configs):
        assert_same_run(runs.history(k), ordinary(SMALL, "SGD momentum", lrs, seed, 2, batch_size=50))
    assert runs.history(0).group_names == list(parts)


def test_pretrained_body_frozen_or_slow_with_a_new_head_per_seed():
    task = pretrained.fine_tuning_data(10, seed=0)

    def frozen(seed):
        model = pretrained.load(new_head=True, seed=seed)
        model.body.requires_grad_(False)
        return model
    configs = [({"head": 1e-2}, 0), ({"head": 3e-3}, 4)]
    runs = train_runs(frozen, task, configs, optimizer="Adam", epochs=4, batch_size=25)
    for k, (lrs, seed) in enumerate(configs):
        assert_same_run(runs.history(k), ordinary(frozen, "Adam", lrs, seed, 4, task, batch_size=25))
    slow = lambda seed: pretrained.load(new_head=True, seed=seed)  # noqa: E731
    configs = [({"body": 1e-4, "head": 1e-2}, 3)]
    runs = train_runs(slow, task, configs, optimizer="AdamW", epochs=4, batch_size=25)
    assert_same_run(runs.history(0), ordinary(slow, "AdamW", configs[0][0], 3, 4, task, batch_size=25))


class Tanh(nn.Module):
    """Not an lrlab MLP (tanh, no blocks): the vmap path, chosen by itself."""

    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Linear(64, 24), nn.Tanh())
        self.head = nn.Linear(24, 10)

    def forward(self, x):
        return self.head(self.body(x))


def test_any_model_without_buffers_goes_through_vmap():
    configs = [({"body": 1e-2, "head": 1e-1}, 0), ({"body": 1e-1, "head": 1e-2}, 3)]
    runs = train_runs(Tanh, DATA, configs, optimizer="AdamW", epochs=2)
    for k, (lrs, seed) in enumerate(configs):
        assert_same_run(runs.history(k), ordinary(Tanh, "AdamW", lrs, seed, 2))


@pytest.mark.parametrize("method", ["auto", "vmap"])
def test_a_run_that_blows_up_stops_alone(method):
    good = [({"body": 3e-2, "head": 1e-1}, 0), ({"body": 1e-2, "head": 3e-2}, 0)]
    bad = ({"body": 1e-2, "head": 1e11}, 1)      # NaN within the first epoch; then seed 0 alone
    runs = train_runs(SMALL, DATA, [good[0], bad, good[1]], epochs=3, method=method)
    reference = ordinary(SMALL, "SGD momentum", *bad, epochs=3)
    assert reference.stopped == DIVERGED and reference.epochs < 3, "the reference must blow up"
    assert_same_run(runs.history(1), reference)
    assert runs.diverged.tolist() == [False, True, False] and runs.epochs_run[1] == reference.epochs
    assert math.isnan(runs.final[1]) and torch.isnan(runs.val_loss[1, reference.epochs:]).all()
    for k, row in [(0, 0), (2, 1)]:
        assert_same_run(runs.history(k), ordinary(SMALL, "SGD momentum", *good[row], epochs=3))


def test_a_batched_run_reads_like_an_ordinary_one():
    runs = train_runs(SMALL, DATA, [({"body": 3e-2, "head": 1e-1}, 0)], epochs=4)
    hist = runs.history(0)
    reference = ordinary(SMALL, "SGD momentum", {"body": 3e-2, "head": 1e-1}, 0, epochs=4)
    assert diagnose(hist).verdict == diagnose(reference).verdict
    assert "body 3e-02" in hist.label and "seed 0" in hist.label and hist.device == "cpu"


def test_bad_configurations_get_clear_errors():
    one = [({"body": 1e-2, "head": 1e-2}, 0)]
    with pytest.raises(ValueError, match="pair"):
        train_runs(SMALL, DATA, [{"body": 1e-2}], epochs=1)
    with pytest.raises(ValueError, match="empty"):
        train_runs(SMALL, DATA, [], epochs=1)
    with pytest.raises(ValueError, match="same parts"):
        train_runs(SMALL, DATA, one + [({"body": 1e-2}, 0)], epochs=1)
    with pytest.raises(ValueError, match=">= 0"):
        train_runs(SMALL, DATA, [({"body": -1e-2, "head": 1e-2}, 0)], epochs=1)
    with pytest.raises(ValueError, match="whole number"):
        train_runs(SMALL, DATA, [({"body": 1e-2, "head": 1e-2}, 0.5)], epochs=1)
    with pytest.raises(ValueError, match="none of"):
        train_runs(SMALL, DATA, [({"body.block1": 1e-2, "body.block2": 1e-2, "blocks": 1e-2}, 0)])
    with pytest.raises(ValueError, match="overlap"):
        train_runs(SMALL, DATA, [({"body": 1e-2, "body.block1": 1e-2, "head": 1e-2}, 0)])
    with pytest.raises(ValueError, match="same architecture"):
        train_runs(lambda s: mlp(hidden=(8 + s,), seed=s), DATA, one + [({"body": 1e-2, "head": 1e-2}, 1)])
    with pytest.raises(TypeError, match="nn.Module"):
        train_runs(lambda s: "model", DATA, one)
    with pytest.raises(ValueError, match="unknown optimizer"):
        train_runs(SMALL, DATA, one, optimizer="RMSprop")


def test_a_batched_run_knows_its_number_of_classes():
    from lrlab.data import digits
    data = digits(seed=0)
    runs = train_runs(lambda s: mlp(hidden=(8,), seed=s), data, [({"body": 0.01, "head": 0.01}, 0)], epochs=1)
    assert runs.history(0).n_classes == data.n_classes == 10


def test_mean_grid_averages_cell_by_cell_over_seeds():
    lrs = [1e-2, 1e-1]
    grids = [lr_grid(mlp((16,), seed=s), DATA, lrs, lrs, epochs=2, seed=s) for s in (0, 1, 2)]
    mean = mean_grid(grids)
    assert torch.allclose(mean.final, torch.stack([g.final for g in grids]).mean(0))
    assert torch.allclose(mean.val_loss, torch.stack([g.val_loss for g in grids]).mean(0))
    assert mean.best()[2] == pytest.approx(mean.final.min().item())
    other = lr_grid(mlp((16,), seed=0), DATA, [1e-3, 1e-2], lrs, epochs=2)
    with pytest.raises(ValueError, match="same parts, lrs and epochs"):
        mean_grid([grids[0], other])
