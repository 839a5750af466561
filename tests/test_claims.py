"""The training-dynamics claims of lessons 04-07 survive a tiny change of the initial weights.

Each lesson asserts its claims over several seeds, with a margin ("at least 7 of 8 seeds"). Here
every such lesson runs again with each initial weight lrlab builds multiplied by 1 + 1e-6 * noise
(``LRLAB_PERTURB``, see ``lrlab.models.perturbed``): another BLAS, another CPU or a GPU moves the
starting point about this much, and a claim that flips under it held for one exact float
computation only. Every assert in the lesson must still pass.
"""
from __future__ import annotations

import nbformat
import pytest

from conftest import ROOT
from test_notebooks import execute

PERTURB = "1e-6"
LESSONS = ["04_loss_curves", "05_live_lab", "06_fine_tuning", "07_transformer_fine_tuning"]

# appended to the lesson: proves the perturbation reached the kernel and changed the weights
PROBE = f"""
import torch
from lrlab import models, pretrained, pretrained_vit
assert models.perturbation() == {PERTURB}
assert not torch.equal(models.mlp(seed=0).head.weight, models.mlp(seed=0, perturb=0).head.weight)
shipped = torch.load(pretrained.path(), weights_only=True)["state_dict"]
assert not torch.equal(pretrained.load().body.block1.linear.weight, shipped["body.block1.linear.weight"])
shipped = torch.load(pretrained_vit.path(), weights_only=True)["state_dict"]
assert not torch.equal(pretrained_vit.load().blocks[0].attn.q.weight, shipped["blocks.0.attn.q.weight"])
"""


@pytest.mark.notebook
@pytest.mark.parametrize("name", LESSONS)
def test_lesson_claims_hold_with_perturbed_initial_weights(name, monkeypatch):
    monkeypatch.setenv("LRLAB_PERTURB", PERTURB)      # the kernel inherits it
    path = ROOT / "lessons" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    execute(path, nb, tag=f"LRLAB_PERTURB={PERTURB}")
