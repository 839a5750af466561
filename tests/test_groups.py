"""lrlab.groups: builders checked against hand-written groups, audit against each silent trap."""
import warnings

import pytest
import torch

from lrlab import groups
from lrlab.models import mlp


def ids(params):
    return [id(p) for p in params]


def test_by_part_matches_the_hand_written_groups():
    model = mlp()
    built = groups.by_part(model, {"body": 1e-3, "head": {"lr": 1e-2, "weight_decay": 0.1}})
    assert ids(built[0]["params"]) == ids(model.body.parameters())
    assert ids(built[1]["params"]) == ids(model.head.parameters())
    assert (built[0]["lr"], built[1]["lr"], built[1]["weight_decay"]) == (1e-3, 1e-2, 0.1)
    assert [g["name"] for g in built] == ["body", "head"]


def test_by_part_errors_name_what_exists():
    model = mlp()
    with pytest.raises(ValueError, match="its parts are: body, body.block1"):
        groups.by_part(model, {"bdy": 0.1, "head": 0.1})
    with pytest.raises(ValueError, match="in no group.*rest="):
        groups.by_part(model, {"body": 0.1})
    with pytest.raises(ValueError, match="overlap"):
        groups.by_part(model, {"body": 0.1, "body.block1": 0.2, "head": 0.1})
    with pytest.raises(ValueError, match="finite number >= 0"):
        groups.by_part(model, {"body": -1, "head": 0.1})
    with pytest.raises(ValueError, match="finite number >= 0"):
        groups.by_part(model, {"body": [0.1, 0.2], "head": 0.1})


def test_by_part_skips_frozen_parameters_and_rest_collects_the_others():
    model = mlp()
    model.body.block1.requires_grad_(False)
    built = groups.by_part(model, {"head": 0.1}, rest=0.01)
    assert [g["name"] for g in built] == ["head", "rest"]
    assert ids(built[1]["params"]) == ids(model.body.block2.parameters())
    with pytest.raises(ValueError, match="no trainable parameters"):
        groups.by_part(model, {"body.block1": 0.1, "body.block2": 0.1, "head": 0.1})


def test_by_pattern_first_match_wins():
    model = mlp()
    built = groups.by_pattern(model, {"*.bias": {"lr": 0.5, "weight_decay": 0.0}, "head.*": 0.1},
                              rest=0.01)
    names = dict(model.named_parameters())
    assert ids(built[0]["params"]) == ids(p for n, p in names.items() if n.endswith(".bias"))
    assert ids(built[1]["params"]) == [id(names["head.weight"])]
    assert len(built[2]["params"]) == 2
    with pytest.raises(ValueError, match="matches no trainable parameter"):
        groups.by_pattern(model, {"neck.*": 0.1}, rest=0.1)


def test_layerwise_decay_uses_ulmfits_factor():
    built = groups.layerwise_decay(mlp(hidden=(8, 8, 8)), 0.026)
    assert [g["name"] for g in built] == ["body.block1", "body.block2", "body.block3", "head"]
    assert [g["lr"] for g in built] == pytest.approx([0.026 / 2.6 ** 3, 0.026 / 2.6 ** 2, 0.01, 0.026])
    with pytest.raises(ValueError, match="decay"):
        groups.layerwise_decay(mlp(), 0.1, decay=2.6)


def test_split_no_decay_exempts_biases():
    model = mlp(hidden=(8,), batchnorm=True)
    built = groups.split_no_decay(groups.by_part(model, {"body": 0.1, "head": 0.2}), 0.05)
    decay = {g["name"]: g["weight_decay"] for g in built}
    assert decay == {"body": 0.05, "body (no decay)": 0.0, "head": 0.05, "head (no decay)": 0.0}
    no_decay = next(g for g in built if g["name"] == "body (no decay)")
    assert all(p.ndim == 1 for p in no_decay["params"]) and len(no_decay["params"]) == 3


def test_audit_is_clean_for_a_correct_optimizer():
    model = mlp()
    opt = torch.optim.SGD(groups.by_part(model, {"body": 0.01, "head": 0.1}), momentum=0.9)
    assert groups.audit(opt, model) == [] and str(groups.audit(opt, model)) == "audit: no problems found"


def test_audit_finds_a_parameter_in_no_group_and_it_really_never_moves():
    model = mlp()
    opt = torch.optim.SGD(model.body.parameters(), lr=0.1)
    found = groups.audit(opt, model)
    assert found.kinds() == {"not in optimizer"}
    assert set(found[0].names) == {"head.weight", "head.bias"}
    before = model.head.weight.detach().clone()
    for _ in range(2):
        opt.zero_grad()
        model(torch.randn(8, 64)).sum().backward()
        opt.step()
    assert torch.equal(model.head.weight, before)  # the reference: torch itself never moved it


def test_audit_finds_an_exhausted_generator_group():
    model = mlp()
    head = model.head.parameters()
    list(head)  # used up, e.g. by an earlier optimizer
    opt = torch.optim.SGD([{"params": model.body.parameters()}, {"params": head}], lr=0.1)
    assert opt.param_groups[1]["params"] == []  # torch accepted it without a word
    assert groups.audit(opt, model).kinds() == {"empty group", "not in optimizer"}


def test_audit_finds_a_misspelled_key_and_suggests_the_right_one():
    model = mlp()
    opt = torch.optim.SGD([{"params": model.body.parameters(), "learning_rate": 0.5},
                           {"params": model.head.parameters()}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1  # the typo was stored, the default used
    (finding,) = groups.audit(opt, model)
    assert finding.kind == "unknown key" and "'learning_rate'" in finding.message
    assert "did you mean 'lr'" in finding.message


def test_audit_finds_frozen_parameters_handed_to_the_optimizer():
    model = mlp()
    model.body.requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    (finding,) = groups.audit(opt, model)
    assert finding.kind == "frozen in optimizer" and len(finding.names) == 4


def test_audit_finds_duplicates_zero_and_negative_lr_and_foreign_tensors():
    model, other = mlp(), mlp()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opt = torch.optim.SGD([{"params": [model.head.weight, model.head.weight, model.head.bias]},
                               {"params": model.body.parameters(), "lr": 0.0},
                               {"params": other.head.parameters(), "lr": -0.1}], lr=0.1)
    assert groups.audit(opt, model).kinds() == {"duplicate", "zero lr", "negative lr", "not in model"}


def test_describe_lists_every_group():
    model = mlp()
    opt = torch.optim.AdamW(groups.by_part(model, {"body": 1e-4, "head": 1e-3}))
    table = groups.describe(opt, model).splitlines()
    assert table[0] == "AdamW with 2 parameter group(s)"
    assert table[1].split()[:5] == ["group", "name", "tensors", "elements", "parameters"]
    assert table[3].split()[:6] == ["0", "body", "4", "24,832", "body.*", "0.0001"]
    assert table[4].split()[:6] == ["1", "head", "2", "1,290", "head.*", "0.001"]


class TiedLM(torch.nn.Module):
    """An embedding whose tensor is also the head's weight (as GPT-2 ties them)."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(20, 8)
        self.body = torch.nn.Linear(8, 8)
        self.head = torch.nn.Linear(8, 20)
        self.head.weight = self.embed.weight


def test_by_part_names_a_tied_tensor_instead_of_letting_torch_refuse_it():
    lm = TiedLM()
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter group"):
        torch.optim.SGD([{"params": lm.embed.parameters()}, {"params": lm.body.parameters()},
                         {"params": lm.head.parameters()}], lr=0.1)
    with pytest.raises(ValueError, match=r"embed.weight and head.weight are one tensor .*tied='first'"):
        groups.by_part(lm, {"embed": 1e-3, "body": 1e-3, "head": 1e-2})


def test_by_part_tied_first_gives_the_tensor_to_the_part_listed_first():
    lm = TiedLM()
    built = groups.by_part(lm, {"embed": 1e-3, "body": 1e-3, "head": 1e-2}, tied="first")
    assert ids(built[0]["params"]) == [id(lm.embed.weight)]
    assert ids(built[2]["params"]) == [id(lm.head.bias)]
    opt = torch.optim.SGD(built)                     # torch accepts it: each tensor once
    assert not groups.audit(opt, lm)
    with pytest.raises(ValueError, match="nothing left of its own"):
        groups.by_part(lm, {"head": 1e-2, "embed": 1e-3, "body": 1e-3}, tied="first")
    with pytest.raises(ValueError, match="overlap"):  # nested parts are still a mistake
        groups.by_part(lm, {"body": 0.1, "": 0.1}, tied="first")
    with pytest.raises(ValueError, match="tied must be"):
        groups.by_part(lm, {"body": 0.1}, tied="last")


def test_by_pattern_sees_every_name_of_a_tied_tensor():
    lm = TiedLM()
    # by name, named_parameters() hides head.weight: a hand-made head group silently lacks it
    head = [p for n, p in lm.named_parameters() if n.startswith("head.")]
    assert ids(head) == [id(lm.head.bias)]
    with pytest.raises(ValueError, match=r"embed.weight -> 'rest', head.weight -> 'head.\*'"):
        groups.by_pattern(lm, {"head.*": 1e-2}, rest=1e-3)
    built = groups.by_pattern(lm, {"head.*": 1e-2}, rest=1e-3, tied="first")
    assert ids(built[0]["params"]) == [id(lm.embed.weight), id(lm.head.bias)]
    assert ids(built[1]["params"]) == [id(lm.body.weight), id(lm.body.bias)]
    # names that all go to the same group are no conflict
    built = groups.by_pattern(lm, {"*.weight": 1e-2}, rest=1e-3)
    assert ids(built[0]["params"]) == [id(lm.embed.weight), id(lm.body.weight)]


SCHEDULES = {
    "LambdaLR": lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda s: min((s + 1) / 5, (20 - s) / 15)),
    "OneCycleLR": lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=[0.1, 0.01], total_steps=20),
    "StepLR": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5),
    "CosineAnnealingLR": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=20, eta_min=0.0),
    "SequentialLR": lambda o: torch.optim.lr_scheduler.SequentialLR(o, [
        torch.optim.lr_scheduler.LinearLR(o, start_factor=0.2, total_iters=8),
        torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)], milestones=[8]),  # after the checkpoint
}


def _schedule(name, steps, checkpoint=None, change=None):
    """Each step's lrs of a [0.1, 0.01] SGD run under SCHEDULES[name]; optionally resumed from a
    checkpoint and changed by ``change(opt, scheduler)`` first. Returns (lrs, checkpoint)."""
    model = mlp()
    opt = torch.optim.SGD(groups.by_part(model, {"body": 0.1, "head": 0.01}), momentum=0.9)
    scheduler = SCHEDULES[name](opt)
    if checkpoint:
        opt.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        change(opt, scheduler)
    lrs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # lr_scheduler's "step() before optimizer.step()" nags
        for _ in range(steps):
            opt.step()
            scheduler.step()
            lrs.append([float(g["lr"]) for g in opt.param_groups])
    return lrs, {"optimizer": opt.state_dict(), "scheduler": scheduler.state_dict()}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_set_lrs_makes_every_scheduler_go_on_at_the_new_lrs(name):
    straight, _ = _schedule(name, 12)
    _, saved = _schedule(name, 6)

    def by_hand(opt, scheduler):  # the recipe without set_lrs: the lr alone
        for g in opt.param_groups:
            g["lr"] = 5 * g["lr"]

    def with_set_lrs(opt, scheduler):
        set_to = [5 * g["lr"] for g in opt.param_groups]
        groups.set_lrs(opt, set_to, scheduler)
        assert scheduler.get_last_lr() == set_to

    lost, _ = _schedule(name, 6, saved, by_hand)
    kept, _ = _schedule(name, 6, saved, with_set_lrs)
    for got, want in zip(kept, straight[6:]):
        assert got == pytest.approx([5 * v for v in want], rel=1e-9)
    # the lr alone: undone where the next lr comes from the checkpoint's bases, kept where it
    # comes from the current lr (SequentialLR: until its next part starts from its base_lrs)
    ratios = [got[0] / want[0] for got, want in zip(lost, straight[6:])]
    expected = {"LambdaLR": [1] * 6, "OneCycleLR": [1] * 6, "StepLR": [5] * 6,
                "CosineAnnealingLR": [5] * 6, "SequentialLR": [5] + [1] * 5}[name]
    assert ratios == pytest.approx(expected, rel=1e-9)


def test_set_lrs_checks_its_arguments_and_works_without_a_scheduler():
    model = mlp()
    opt = torch.optim.SGD(groups.by_part(model, {"body": 0.1, "head": 0.0}))
    with pytest.raises(ValueError, match="2 groups, but 1 lrs"):
        groups.set_lrs(opt, [0.5])
    with pytest.raises(ValueError, match="finite number >= 0"):
        groups.set_lrs(opt, [-0.5, 0.0])
    groups.set_lrs(opt, [0.5, 0.2])  # no scheduler, no bases: the lr is all there is
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.2]
    other = torch.optim.SGD(mlp().parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=1)
    with pytest.raises(ValueError, match="another optimizer"):
        groups.set_lrs(other, [0.1], scheduler)
    groups.set_lrs(opt, [0.5, 0.0], scheduler)
    opt.param_groups[1]["lr"] = 0.0
    with pytest.raises(ValueError, match="lr is 0 now"):
        groups.set_lrs(opt, [0.5, 0.1], scheduler)
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1})
    with pytest.raises(ValueError, match="2 base_lrs for 3 groups"):
        groups.set_lrs(opt, [1.0, 0.0, 0.1], scheduler)
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.0, 0.1]  # refused: nothing changed
