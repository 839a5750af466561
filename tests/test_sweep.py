"""The batched lr grid equals one-at-a-time training, cell by cell (same seed, same batches)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest
import torch

from lrlab.data import preset
from lrlab.groups import by_part
from lrlab.models import mlp
from lrlab.sweep import lr_grid
from lrlab.train import train
from lrlab.widgets import make_optimizer

DATA = preset("normal")


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
