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
