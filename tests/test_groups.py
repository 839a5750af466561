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
