import pytest
import torch

from lrlab.models import mlp, parts


def test_mlp_has_named_parts_and_is_seeded():
    model = mlp(hidden=(32, 16), batchnorm=True, dropout=0.1)
    assert parts(model) == ["body", "body.block1", "body.block1.linear", "body.block1.norm",
                            "body.block2", "body.block2.linear", "body.block2.norm", "head"]
    assert model(torch.zeros(4, 64)).shape == (4, 10)
    same = mlp(hidden=(32, 16), batchnorm=True, dropout=0.1)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), same.parameters()))


def test_seeding_leaves_the_callers_random_state_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    mlp()
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("kwargs", [{"hidden": ()}, {"hidden": (0,)}, {"dropout": 1.0}])
def test_bad_shapes_are_rejected(kwargs):
    with pytest.raises(ValueError):
        mlp(**kwargs)


def _largest_relative_change(a, b):
    return max(((q - p).abs() / p.abs().clamp_min(1e-12)).max().item()
               for p, q in zip(a.parameters(), b.parameters()))


def test_lrlab_perturb_scales_every_initial_weight_by_a_tiny_fixed_noise(monkeypatch):
    exact = mlp(seed=3)
    monkeypatch.setenv("LRLAB_PERTURB", "1e-6")
    shaken, again = mlp(seed=3), mlp(seed=3)
    assert all(not torch.equal(p, q) for p, q in zip(exact.parameters(), shaken.parameters()))
    assert 1e-7 < _largest_relative_change(exact, shaken) < 1e-5      # noise of relative size 1e-6
    assert all(torch.equal(p, q) for p, q in zip(shaken.parameters(), again.parameters()))
    assert all(torch.equal(p, q) for p, q in zip(exact.parameters(), mlp(seed=3, perturb=0).parameters()))
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    mlp(seed=1)
    assert torch.equal(torch.rand(2), expected), "the perturbation must not touch the caller's random state"


@pytest.mark.parametrize("value", ["abc", "-1e-6", "nan", "2"])
def test_a_bad_lrlab_perturb_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv("LRLAB_PERTURB", value)
    with pytest.raises(ValueError, match="LRLAB_PERTURB"):
        mlp()


def test_pretrained_weights_are_perturbed_in_memory_only(monkeypatch):
    from lrlab import pretrained

    exact, file_bytes = pretrained.load(new_head=True, seed=2), pretrained.path().read_bytes()
    monkeypatch.setenv("LRLAB_PERTURB", "1e-6")
    shaken = pretrained.load(new_head=True, seed=2)
    assert 1e-7 < _largest_relative_change(exact.body, shaken.body) < 1e-5
    assert 1e-7 < _largest_relative_change(exact.head, shaken.head) < 1e-5
    assert pretrained.path().read_bytes() == file_bytes
    model, _ = pretrained.pretrain()      # the checkpoint's recipe is never perturbed
    shipped = torch.load(pretrained.path(), weights_only=True)["state_dict"]
    assert all(torch.allclose(v, shipped[k], atol=1e-5) for k, v in model.state_dict().items())
