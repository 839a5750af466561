import pytest
import torch

from lrlab import data


def test_digits_split_is_seeded_disjoint_and_scaled():
    a, b = data.digits(seed=3), data.digits(seed=3)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.x_train, data.digits(seed=4).x_train)
    assert len(a.y_train) + len(a.y_val) == 1797 and a.n_features == 64 and a.n_classes == 10
    assert 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    assert a.x_train.dtype == torch.float32 and a.y_train.dtype == torch.int64
    assert data.duplicates_across(a) == 0


def test_class_subsets_are_relabelled_from_zero():
    split = data.digits(classes=[5, 6, 7, 8, 9])
    assert split.classes == (5, 6, 7, 8, 9) and split.n_classes == 5
    assert set(split.y_train.tolist()) == set(range(5))
    assert "5-9" in split.name


def test_tiny_and_leaky_presets():
    tiny, leaky = data.preset("tiny"), data.preset("leaky")
    assert len(tiny.y_train) == 40
    assert data.duplicates_across(leaky) == pytest.approx(len(leaky.y_val) / 2, abs=1)
    assert len(leaky.y_val) == len(data.digits().y_val)


@pytest.mark.parametrize("kwargs, message", [
    ({"classes": [3]}, "at least two"),
    ({"classes": [1, 12]}, "digits 0..9"),
    ({"val_fraction": 1.5}, "val_fraction"),
    ({"n_train": 0}, "n_train"),
    ({"leak": 2}, "leak"),
])
def test_bad_arguments_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.digits(**kwargs)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ValueError, match="normal, tiny, leaky"):
        data.preset("huge")
