"""lrlab.diagnose on constructed histories, the seed's epoch table and real digits runs."""
import math

import pytest
import torch


from lrlab import data, diagnose as dg, groups
from lrlab.models import mlp
from lrlab.train import History, train

SEED_TABLE = ([0.85, 0.60, 0.45, 0.40, 0.38], [0.90, 0.65, 0.50, 0.42, 0.40])


def hist(train_loss, val_loss, **extra) -> History:
    h = History.from_epochs(train_loss, val_loss)
    for key, value in extra.items():
        setattr(h, key, value)
    return h


# -- constructed histories ---------------------------------------------------------------

def test_the_seed_table_evidence():
    d = dg.diagnose(History.from_epochs(*SEED_TABLE), n_classes=10)
    assert d.evidence["gap_end"] == pytest.approx(0.02)
    assert d.evidence["spikes"] == [] and d.evidence["best_epoch"] == 5
    assert str(d).startswith(d.verdict + ": ") and str(d).endswith("→ " + d.advice)


def test_every_verdict_is_one_of_the_constants():
    assert set(dg.VERDICTS) == {"healthy", "overfitting", "unstable", "too slow"}


def test_nan_is_diverging():
    d = dg.diagnose(hist([2.0, 1.0, math.nan], [2.0, 1.1, math.nan]))
    assert d.verdict == dg.UNSTABLE and "NaN" in d.reason


def test_nan_in_a_step_loss_is_diverging():
    d = dg.diagnose(hist([2.0, 1.0], [2.0, 1.1], step_loss=[2.0, math.inf, 1.0, 1.0], steps_per_epoch=2))
    assert d.verdict == dg.UNSTABLE


def test_a_train_spike_is_diverging_with_its_size_and_epoch():
    d = dg.diagnose(hist([2.0, 1.0, 1.6, 0.8], [2.0, 1.0, 1.5, 0.9]))
    assert d.verdict == dg.UNSTABLE
    assert "epoch 3" in d.reason and "0.60" in d.reason
    assert [(w, e) for w, e, _ in d.evidence["spikes"]] == [("train", 3), ("validation", 3)]


def test_small_wiggles_are_not_spikes():
    # +0.05 is under the 0.1 minimum, +0.2 on 1.0 is under 25 %
    assert dg._spikes([1.0, 1.05, 0.9, 1.1]) == []
    assert dg._spikes([1.0, 0.5, 0.9]) == [(3, pytest.approx(0.4))]


def test_one_huge_step_in_the_first_epochs_is_diverging_even_if_epochs_look_flat():
    # the run blew up in epoch 1 and now sits at chance level: epoch means alone look flat
    steps = [2.3, 40.0, 3.0, 2.4] + [2.31, 2.30, 2.30, 2.31] * 3
    d = dg.diagnose(hist([11.9, 2.30, 2.30, 2.30], [2.5, 2.30, 2.31, 2.30],
                         step_loss=steps, steps_per_epoch=4))
    assert d.verdict == dg.UNSTABLE and "17.4x" in d.reason
    assert d.evidence["step_spike"] == pytest.approx(40 / 2.3)


def test_u_shaped_validation_loss_is_overfitting():
    train_loss = [2.0, 1.0, 0.5, 0.25, 0.12, 0.06, 0.03]
    val_loss = [2.0, 1.1, 0.70, 0.65, 0.75, 0.80, 0.85]
    d = dg.diagnose(hist(train_loss, val_loss))
    assert d.verdict == dg.OVERFITTING
    assert d.evidence["best_epoch"] == 4 and d.evidence["best_val"] == 0.65
    assert d.evidence["gap_slope"] > 0 and "epoch 4" in d.reason


def test_a_noisy_plateau_is_not_overfitting():
    # val wobbles by 0.03 around 0.12 once train loss is near zero: noise, not a rise
    train_loss = [2.0, 0.5, 0.2, 0.05, 0.02, 0.01, 0.01]
    val_loss = [1.1, 0.35, 0.16, 0.11, 0.14, 0.11, 0.14]
    assert dg.diagnose(hist(train_loss, val_loss)).verdict == dg.HEALTHY


def test_a_wide_flat_gap_is_overfitting():
    d = dg.diagnose(hist([2.0, 0.5, 0.1, 0.05], [2.1, 1.5, 1.4, 1.4]))
    assert d.verdict == dg.OVERFITTING and "memorises" in d.reason


def test_training_loss_drops_fast_but_validation_stays_high_is_overfitting():
    # the seed's question: it is overfitting (not "healthy")
    d = dg.diagnose(hist([2.3, 0.8, 0.2, 0.05, 0.01], [2.3, 2.0, 1.9, 1.9, 1.9]))
    assert d.verdict == dg.OVERFITTING


def test_a_flat_curve_is_too_slow():
    d = dg.diagnose(hist([2.30, 2.28, 2.25, 2.22], [2.30, 2.29, 2.26, 2.23]))
    assert d.verdict == dg.TOO_SLOW and "2.300 to 2.220" in d.reason
    assert d.evidence["train_slope"] < 0
    assert d.evidence["chance"] == pytest.approx(2.30)  # no classes known: the first train loss


def test_update_ratios_by_epoch_and_peak():
    h = hist([2.0, 1.0, 0.5], [2.0, 1.0, 0.6], group_names=["body", "head"],
             update_ratios=[[0.001, 0.5], [0.002, 0.2], [0.001, 0.1]])
    assert dg.update_ratios(h) == {"body": 0.001, "head": 0.1}
    assert dg.update_ratios(h, epoch=1) == {"body": 0.001, "head": 0.5}
    assert dg.peak_update_ratios(h) == {"body": 0.002, "head": 0.5}


def test_the_advice_reads_as_a_factor_per_group():
    d = dg.Diagnosis(dg.UNSTABLE, "bounces", "body", {"body": dg.LOWER})
    assert d.advice == "body lr ×1/3" and str(d) == "unstable: bounces → body lr ×1/3"
    assert dg.Diagnosis(dg.TOO_SLOW, "flat", "head", {"head": dg.RAISE}).advice == "head lr ×3"


def test_no_ratios_no_blame_no_crash():
    h = History.from_epochs([2.3, 2.2], [2.3, 2.25])
    assert dg.update_ratios(h) == {} and dg.peak_update_ratios(h) == {}
    d = dg.diagnose(h, n_classes=10)
    assert d.verdict == dg.TOO_SLOW and d.blame is None and d.lr_factors == {}


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(TypeError, match="History"):
        dg.diagnose({"train_loss": [1, 2]})
    with pytest.raises(ValueError, match="at least 2"):
        dg.diagnose(History.from_epochs([1.0], [1.0]))


# -- real runs on the digits data -----------------------------------------------------------

def run(lrs, *, split=None, epochs=15, seed=0, batch_size=32):
    split = split if split is not None else data.digits(seed=seed)
    model = mlp(n_classes=split.n_classes, seed=seed)
    opt = torch.optim.SGD(groups.by_part(model, lrs), momentum=0.9)
    return train(model, opt, split, epochs=epochs, batch_size=batch_size, seed=seed, device="cpu")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_real_runs_get_the_right_verdict_and_blame_the_right_group(seed):
    healthy = dg.diagnose(run({"body": 0.05, "head": 0.05}, seed=seed))
    assert healthy.verdict == dg.HEALTHY, healthy
    slow = dg.diagnose(run({"body": 5e-4, "head": 5e-4}, seed=seed))
    assert slow.verdict == dg.TOO_SLOW, slow
    high_body = dg.diagnose(run({"body": 1.0, "head": 0.05}, seed=seed))
    assert high_body.verdict == dg.UNSTABLE and "epoch 1: body" in high_body.reason, high_body
    high_head = dg.diagnose(run({"body": 0.05, "head": 3.0}, seed=seed))
    assert high_head.verdict == dg.UNSTABLE and "epoch 1: head" in high_head.reason, high_head
    tiny = dg.diagnose(run({"body": 0.1, "head": 0.1}, split=data.digits(n_train=40, seed=seed),
                           epochs=100, seed=seed, batch_size=40))
    assert tiny.verdict == dg.OVERFITTING, tiny


def test_leakage_hides_from_the_curves():
    # a leaky split looks healthy: only counting duplicates finds it
    split = data.digits(leak=0.5)
    assert dg.diagnose(run({"body": 0.05, "head": 0.05}, split=split)).verdict == dg.HEALTHY
    assert data.duplicates_across(split) > 0.4 * len(split.y_val)
