"""lrlab.recipe: a recipe run in a kernel, written down as plain data, replayed to the same numbers;
what a replay refuses; and ps5's reference recipe clears its target with margin."""
from __future__ import annotations

import math
import re
import statistics

import nbformat
import pytest
import torch
from torch.optim import lr_scheduler

from autograder.samplekit import cell
from conftest import ROOT
from lrlab import recipe
from lrlab.groups import by_part, layerwise_decay
from lrlab.probe import decode, encode

EPOCHS = 8   # enough for every scheduler below to change something; ps5 itself uses 40


def _adam(m):
    return torch.optim.Adam(by_part(m, {"body": 1e-3, "head": 1e-2})), None


def _plateau(m):
    o = torch.optim.AdamW([{"params": m.body.parameters(), "lr": 1e-3},
                           {"params": m.head.parameters(), "lr": 1e-2}], weight_decay=0.01)
    return o, lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=0, threshold=0.5)


def _one_cycle(m):   # also cycles Adam's beta1, not only the lr
    o = torch.optim.Adam(layerwise_decay(m, 1e-2))
    return o, lr_scheduler.OneCycleLR(o, max_lr=[g["lr"] for g in o.param_groups], total_steps=EPOCHS)


def _head_first(m):
    o = torch.optim.Adam(by_part(m, {"body": 1e-3, "head": 1e-2}))
    return o, lr_scheduler.LambdaLR(o, [lambda e: 0.0 if e < 3 else 1.0, lambda e: 1.0])


def _frozen_sgd(m):
    m.body.block1.requires_grad_(False)
    o = torch.optim.SGD([{"params": m.body.block2.parameters(), "lr": 0.01},
                         {"params": m.head.parameters()}], lr=0.1, momentum=0.9, nesterov=True)
    return o, lr_scheduler.CosineAnnealingLR(o, EPOCHS)


@pytest.mark.parametrize("build", [_adam, _plateau, _one_cycle, _head_first, _frozen_sgd],
                         ids=lambda b: b.__name__.strip("_"))
def test_replay_from_plain_data_gives_the_same_run(build):
    history, rec = recipe.run(build, seed=3, epochs=EPOCHS)
    again = recipe.replay(decode(encode(rec)), seed=3, epochs=EPOCHS)
    assert again.val_loss == history.val_loss and again.train_loss == history.train_loss
    assert again.lrs == history.lrs


def test_plateau_steps_with_the_validation_loss():
    history, rec = recipe.run(_plateau, seed=3, epochs=EPOCHS)
    head_lrs = [row[1]["lr"] for row in rec["settings"]]
    assert head_lrs[0] == 1e-2 and min(head_lrs) < 1e-2, head_lrs   # it did reduce
    assert len(rec["settings"]) == history.epochs == EPOCHS


def test_the_recipe_names_groups_and_frozen_parameters():
    _, rec = recipe.run(_frozen_sgd, seed=0, epochs=1)
    assert rec["optimizer"] == "SGD" and rec["changed"] == []
    assert rec["groups"] == [["body.block2.linear.weight", "body.block2.linear.bias"],
                             ["head.weight", "head.bias"]]
    assert rec["frozen"] == ["body.block1.linear.weight", "body.block1.linear.bias"]
    assert rec["settings"][0][1]["lr"] == 0.1 and rec["settings"][0][1]["nesterov"] is True


def test_a_build_that_trains_the_model_itself_is_refused():
    """Weights changed inside build (here: trained on the validation data) never reach the grader."""
    def sneaky(m):
        data = recipe.fine_tuning_data(10, seed=0)
        o = torch.optim.Adam(m.parameters(), lr=3e-3)
        for _ in range(150):
            o.zero_grad()
            torch.nn.functional.cross_entropy(m(data.x_val), data.y_val).backward()
            o.step()
        return torch.optim.Adam(m.parameters(), lr=1e-9), None

    history, rec = recipe.run(sneaky, seed=0, epochs=2)
    assert history.val_loss[-1] < 0.2 and "head.weight" in rec["changed"]
    with pytest.raises(ValueError, match="build changed the model's"):
        recipe.replay(rec, seed=0, epochs=2)
    rec["changed"] = []                      # what a kernel could claim: the replay is honest anyway
    assert recipe.replay(rec, seed=0, epochs=2).val_loss[-1] > 1.0


@pytest.mark.parametrize("result,error,message", [
    (lambda m: torch.optim.Adam(m.parameters()), TypeError, "tuple"),
    (lambda m: ("Adam", None), TypeError, "torch.optim optimizer"),
    (lambda m: (torch.optim.Adam(m.parameters()), "cosine"), TypeError, "scheduler"),
    (lambda m: (torch.optim.Adam(torch.nn.Linear(2, 2).parameters()), None), ValueError, "not parameters"),
])
def test_run_says_what_build_got_wrong(result, error, message):
    with pytest.raises(error, match=message):
        recipe.run(result, seed=0, epochs=1)


def _recorded():
    return recipe.run(_adam, seed=0, epochs=2)[1]


@pytest.mark.parametrize("change,message", [
    (lambda r: r.update(optimizer="MyAdam"), "one of torch.optim's"),
    (lambda r: r.update(optimizer="Optimizer"), "one of torch.optim's"),
    (lambda r: r.update(optimizer="__import__"), "one of torch.optim's"),
    (lambda r: r["groups"][0].append("head.weight"), "twice"),
    (lambda r: r["groups"][0].append("body.block9.weight"), "not a parameter"),
    (lambda r: r.update(frozen="head.weight"), "list of parameter names"),
    (lambda r: r.update(groups=[]), "no parameter groups"),
    (lambda r: r["settings"][0][0].update(lr=[0.1] * 100), "hyperparameters"),
    (lambda r: r["settings"][0][0].update(lr={"__tensor__": 1}), "hyperparameters"),
    (lambda r: r["settings"][1].pop(), "hyperparameters"),
    (lambda r: r["settings"][0][0].update(params=["head.weight"]), "hyperparameters"),
    (lambda r: r.pop("settings"), "not a recipe"),
])
def test_replay_refuses_a_malformed_recipe(change, message):
    rec = _recorded()
    change(rec)
    with pytest.raises(ValueError, match=re.escape(message)):
        recipe.replay(rec, seed=0, epochs=2)


def test_a_run_that_blows_up_scores_infinity():
    history, rec = recipe.run(lambda m: (torch.optim.SGD(m.parameters(), lr=1e30), None), seed=0, epochs=5)
    assert history.stopped and recipe.final_loss(history) == math.inf
    assert recipe.final_loss(recipe.replay(rec, seed=0, epochs=5)) == math.inf


def _solution_build():
    nb = nbformat.read(ROOT / "solutions" / "ps5_fine_tuning" / "ps5_fine_tuning.ipynb", as_version=4)
    names = {"torch": torch, "by_part": by_part, "layerwise_decay": layerwise_decay}
    exec(cell(nb, "build").source, names)  # noqa: S102 - the instructor's own solution
    return names["build"]


def test_ps5_reference_recipe_clears_the_target_with_margin():
    """On the grading seeds: the mean plus 2.33 standard errors of a ten-seed mean stays below 0.30,
    so another ten seeds (or another BLAS) would still pass 99 % of the time. The full study over
    200 seeds: benchmarks/bench_ps5_target.py."""
    build = _solution_build()
    losses = [recipe.final_loss(recipe.replay(recipe.run(build, s)[1], s)) for s in range(11, 21)]
    bound = statistics.fmean(losses) + 2.33 * statistics.stdev(losses) / math.sqrt(len(losses))
    assert bound < 0.30, (losses, bound)
