"""lrlab.pretrained (the shipped checkpoint, regenerated reproducibly) and the transfer data."""
import numpy as np
import pytest
import torch

from lrlab import data, groups, pretrained
from lrlab.train import evaluate


def test_the_checkpoint_is_small_and_loads_with_its_recorded_score():
    assert pretrained.path().stat().st_size < 300 * 1024
    model, meta = pretrained.load(), pretrained.info()
    split = data.digits(seed=pretrained.SPLIT_SEED)
    loss, acc = evaluate(model, split.x_val, split.y_val)
    assert loss == pytest.approx(meta["val_loss"], abs=1e-3) and acc > 0.9
    assert meta["recipe"] == pretrained.RECIPE


def test_regenerating_gives_the_same_weights(tmp_path, monkeypatch, capsys):
    model, hist = pretrained.pretrain()
    shipped = pretrained.load().state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.allclose(tensor, shipped[name], atol=1e-5), name
    out = pretrained.save(model, hist, tmp_path / "again.pt")
    fresh = torch.load(out, weights_only=True)["state_dict"]
    assert all(torch.equal(fresh[k], v) for k, v in model.state_dict().items())
    # the command line's --check compares a retrained model with the shipped file
    monkeypatch.setattr(pretrained, "pretrain", lambda: (model, hist))
    assert pretrained.main(["--check"]) == 0 and "largest weight difference" in capsys.readouterr().out


def test_a_new_head_keeps_the_body_and_is_seeded():
    a, b = pretrained.load(new_head=True, seed=1), pretrained.load(new_head=True, seed=1)
    old = pretrained.load()
    assert torch.equal(a.head.weight, b.head.weight) and not torch.equal(a.head.weight, old.head.weight)
    assert all(torch.equal(p, q) for p, q in zip(a.body.parameters(), old.body.parameters()))
    assert pretrained.load(n_classes=5).head.out_features == 5


def test_missing_checkpoint_says_how_to_make_it():
    with pytest.raises(FileNotFoundError, match="python -m lrlab.pretrained"):
        pretrained.load("nope")


def test_fine_tuning_data_is_held_out_from_pretraining():
    split = data.digits(seed=pretrained.SPLIT_SEED)
    seen = {r.tobytes() for r in split.x_train.numpy()}
    # clean digits: new to the body, training images and validation images alike
    task = pretrained.fine_tuning_data(10, seed=3, kind="clean")
    assert len(task.y_train) == 100 and torch.bincount(task.y_train).tolist() == [10] * 10
    train_rows = {r.tobytes() for r in task.x_train.numpy()}
    val_rows = {r.tobytes() for r in task.x_val.numpy()}
    assert not train_rows & seen and not val_rows & seen and not train_rows & val_rows
    pool = pretrained.unseen()
    assert len(pool.y_train) + len(pool.y_val) == len(split.y_val) and torch.equal(task.x_val, pool.x_val)
    # inverted: the pretraining images, inverted, validated on the held-out part inverted
    inv = pretrained.fine_tuning_data(10, seed=3)
    assert all((1 - r).tobytes() in seen for r in inv.x_train.numpy())
    assert torch.allclose(inv.x_val, 1 - split.x_val)
    with pytest.raises(ValueError, match="kind"):
        pretrained.fine_tuning_data(kind="rotated")


def test_data_variants():
    split = data.digits(n_train=200)
    inv = data.inverted(split)
    assert torch.allclose(inv.x_val, 1 - split.x_val) and torch.equal(inv.y_val, split.y_val)
    right = data.shifted(split, 1, 0).x_train.view(-1, 8, 8)
    assert torch.equal(right[:, :, 1:], split.x_train.view(-1, 8, 8)[:, :, :-1])
    assert (right[:, :, 0] == 0).all()
    up = data.shifted(split, 0, -2).x_train.view(-1, 8, 8)
    assert torch.equal(up[:, :-2], split.x_train.view(-1, 8, 8)[:, 2:]) and (up[:, -2:] == 0).all()
    few = data.few_shot(split, 3, seed=1)
    assert torch.bincount(few.y_train, minlength=10).tolist() == [3] * 10
    assert torch.equal(few.x_train, data.few_shot(split, 3, seed=1).x_train)
    assert not torch.equal(few.x_train, data.few_shot(split, 3, seed=2).x_train)
    with pytest.raises(ValueError, match="per_class"):
        data.few_shot(split, 1000)
    with pytest.raises(ValueError, match="under 8"):
        data.shifted(split, 8, 0)


def test_fine_tune_frozen_body_does_not_move_and_gradual_unfreezing_records_every_stage():
    h = pretrained.fine_tune(lambda m: groups.by_part(m, {"head": 1e-2}), freeze_body=True, epochs=3)
    assert h.epochs == 3 and h.group_names == ["head"]
    model = pretrained.load(new_head=True)
    before = [p.clone() for p in model.body.block1.parameters()]
    g = pretrained.gradual_unfreezing(model, pretrained.fine_tuning_data(5), lr=1e-2, epochs_per_stage=2)
    assert g.epochs == 6 and g.group_names == ["body.block1", "body.block2", "head"]
    assert g.lrs[0] == [0.0, 0.0, 1e-2] and g.lrs[-1] == pytest.approx([1e-2 / 2.6 ** 2, 1e-2 / 2.6, 1e-2])
    assert not torch.equal(before[0], model.body.block1.linear.weight)


def test_gradual_unfreezing_builds_each_stage_whole_so_a_scheduler_works():
    """Each stage gets a new optimizer and, from ``scheduler(optimizer, stage)``, a new scheduler:
    no group is ever added to a scheduled optimizer (which breaks LambdaLR, below)."""
    made = []

    def halving(opt, stage):
        made.append((stage, len(opt.param_groups)))
        return torch.optim.lr_scheduler.LambdaLR(opt, [lambda e: 0.5 ** e] * len(opt.param_groups))

    model = pretrained.load(new_head=True)
    g = pretrained.gradual_unfreezing(model, pretrained.fine_tuning_data(5), lr=1e-2, epochs_per_stage=2,
                                      scheduler=halving)
    assert made == [(1, 1), (2, 2), (3, 3)] and g.epochs == 6
    head = [row[-1] for row in g.lrs]   # one step per epoch (full batch): each stage restarts at 1e-2
    assert head == pytest.approx([1e-2, 5e-3] * 3)
    assert g.lrs[-1] == pytest.approx([1e-2 / 2.6 ** 2 / 2, 1e-2 / 2.6 / 2, 1e-2 / 2])


def test_add_param_group_under_lambda_lr_breaks_the_next_step():
    """The trap gradual_unfreezing avoids (FACTS: torch 2.13)."""
    body, head = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5 ** e)
    opt.step()
    sched.step()
    opt.add_param_group({"params": body.parameters(), "lr": 1e-3})
    opt.step()
    with pytest.raises(ValueError, match="zip"):
        sched.step()


def test_part_lrs_spells_out_every_part():
    assert pretrained.part_lrs({"body": 1e-3, "head": 1e-2}) == {
        "body.block1": 1e-3, "body.block2": 1e-3, "head": 1e-2}
    assert pretrained.part_lrs({"body": 1e-3, "body.block2": 5e-3, "head": 1e-2})["body.block2"] == 5e-3
    assert pretrained.part_lrs({"head": 1e-2}) == {"body.block1": 0.0, "body.block2": 0.0, "head": 1e-2}
    with pytest.raises(ValueError, match="no part named 'neck'"):
        pretrained.part_lrs({"neck": 1e-3})


def test_fine_tune_takes_an_lr_dict_and_freezes_the_parts_it_leaves_out():
    h = pretrained.fine_tune({"body.block2": 1e-3, "head": 1e-2}, seed=1, epochs=2)
    assert h.group_names == ["body.block2", "head"] and h.update_ratios[-1][0] > 0
    frozen = pretrained.fine_tune({"head": 1e-2}, seed=1, epochs=2)
    by_hand = pretrained.fine_tune(lambda m: groups.by_part(m, {"head": 1e-2}), freeze_body=True, seed=1, epochs=2)
    assert frozen.val_loss == by_hand.val_loss


RECIPES = {"one lr": lambda lr: {"body": lr, "head": lr},
           "ULMFiT": lambda lr: {"body.block1": lr / 2.6 ** 2, "body.block2": lr / 2.6, "head": lr},
           "frozen": lambda lr: {"head": lr},
           "scratch": lambda lr: {"body": lr, "head": lr}}


def test_search_makes_the_runs_fine_tune_makes():
    found = pretrained.search(RECIPES, [1e-2, 3e-3], [1, 2], scratch=["scratch"], epochs=3)
    assert found.final["one lr"].shape == (2, 2) and found.parts == list(pretrained.PARTS)
    for j, seed in enumerate((1, 2)):
        by_hand = {
            "one lr": pretrained.fine_tune(lambda m: groups.by_part(m, RECIPES["one lr"](1e-2)), seed=seed, epochs=3),
            "ULMFiT": pretrained.fine_tune(lambda m: groups.layerwise_decay(m, 1e-2), seed=seed, epochs=3),
            "frozen": pretrained.fine_tune(lambda m: groups.by_part(m, {"head": 1e-2}), freeze_body=True,
                                           seed=seed, epochs=3),
            "scratch": pretrained.fine_tune(lambda m: groups.by_part(m, RECIPES["one lr"](1e-2)), seed=seed,
                                            epochs=3, start="scratch")}
        for name, h in by_hand.items():
            assert found.at(name, 1e-2, [seed])[0] == pytest.approx(h.val_loss[-1], abs=1e-4), name
        per_part = pretrained.fine_tune(pretrained.part_lrs(RECIPES["one lr"](1e-2)), seed=seed, epochs=3)
        assert found.travelled("one lr", 1e-2, [seed])[0] == pytest.approx(
            [sum(row[k] for row in per_part.update_ratios) for k in range(3)], rel=1e-3)
    assert (found.travelled("frozen", 1e-2)[:, :2] == 0).all() and (found.travelled("frozen", 1e-2)[:, 2] > 0).all()
    # each recipe at its own lr (as after choosing): rows follow the lrs given
    each = pretrained.search({"one lr": RECIPES["one lr"], "frozen": RECIPES["frozen"]},
                             {"one lr": 3e-3, "frozen": [1e-2]}, [2], epochs=3)
    assert each.lrs == {"one lr": [3e-3], "frozen": [1e-2]}
    assert each.at("one lr", 3e-3)[0] == pytest.approx(found.at("one lr", 3e-3, [2])[0], abs=1e-4)


def test_search_chooses_by_the_mean_over_the_seeds_asked():
    final = np.array([[0.3, 0.3, 2.0], [0.4, 0.4, 0.4], [np.inf, 0.1, 0.1]])
    found = pretrained.Search({"r": [1e-3, 1e-2, 1e-1]}, [0, 1, 2], list(pretrained.PARTS), {"r": final},
                              {"r": np.zeros((3, 3, 3))})
    assert found.best("r") == 1e-2                     # the mean over all three seeds
    assert found.best("r", [0, 1]) == 1e-3             # over seeds 0 and 1 only
    assert found.best("r", [1, 2]) == 1e-1
    assert found.at("r", 1e-2, [2, 0]).tolist() == [0.4, 0.4]
    with pytest.raises(ValueError, match="not run at lr"):
        found.at("r", 3e-3)
    with pytest.raises(ValueError, match=r"seeds \[7\] were not run"):
        found.best("r", [7])
    with pytest.raises(ValueError, match="not recipes"):
        pretrained.search(RECIPES, [1e-2], [0], scratch=["nope"], epochs=1)
    with pytest.raises(ValueError, match="the recipes are"):
        pretrained.search(RECIPES, {"one lr": 1e-2}, [0], epochs=1)


def test_the_lower_body_lr_beats_one_lr_at_the_same_head_lr():
    # the lesson's first race (every recipe's head at 1e-2), on two seeds; the fair race, each
    # recipe at the lr its own search chose, is the lesson's to show (its gain is small)
    for seed in (1, 2):
        one = pretrained.fine_tune(lambda m: groups.by_part(m, {"body": 1e-2, "head": 1e-2}), seed=seed, epochs=40)
        low = pretrained.fine_tune(lambda m: groups.by_part(m, {"body": 1e-3, "head": 1e-2}), seed=seed, epochs=40)
        assert low.val_loss[-1] < one.val_loss[-1]
