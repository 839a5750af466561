"""Record the held-out runs that ps4's hidden tests classify (the numbers pasted into them).

    python autograder/samples/ps4_loss_curves/record_runs.py

Settings the course never uses (other widths and depths, batch sizes, Adam, other training-set
sizes and seeds), two runs per verdict in each set. The label is the cause each run was built
with (an lr far too low or too high, 30-50 training digits trained long, a sensible lr); a run is
kept only where ``lrlab.diagnose`` reads it the same way, so every held-out run is clear-cut. The
labels live in the hidden tests' judges only; the kernel sees numbered runs. Prints each set as
the probe's list and the judge's labels.
"""
from __future__ import annotations

import torch

from lrlab.data import digits
from lrlab.diagnose import diagnose
from lrlab.groups import by_part
from lrlab.models import mlp
from lrlab.train import train

# (verdict, hidden widths, optimizer, lrs, training digits (None: all), epochs, batch size, seed)
SETS = {
    "A": [
        ("unstable", (64, 64), "sgd", {"body": 2.0, "head": 0.03}, None, 20, 64, 4),
        ("healthy", (64, 64), "sgd", {"body": 0.03, "head": 0.03}, None, 20, 64, 4),
        ("overfitting", (256,), "adam", {"body": 3e-3, "head": 3e-3}, 30, 80, 30, 4),
        ("too slow", (128, 128, 128), "sgd", {"body": 2e-4, "head": 2e-3}, None, 10, 16, 4),
        ("healthy", (128, 128, 128), "sgd", {"body": 0.1, "head": 0.1}, None, 15, 128, 5),
        ("unstable", (128, 128, 128), "sgd", {"body": 0.1, "head": 4.0}, None, 15, 16, 4),
        ("too slow", (64, 64), "sgd", {"body": 1e-3, "head": 1e-3}, None, 20, 64, 7),
        ("overfitting", (128, 128, 128), "adam", {"body": 1e-3, "head": 1e-3}, 50, 100, 50, 4),
    ],
    "B": [
        ("too slow", (256,), "adam", {"body": 1e-5, "head": 1e-5}, None, 12, 32, 4),
        ("overfitting", (128, 128, 128), "adam", {"body": 1e-3, "head": 1e-3}, 50, 100, 50, 5),
        ("unstable", (64, 64), "adam", {"body": 0.03, "head": 0.3}, None, 15, 64, 4),
        ("healthy", (64, 64), "adam", {"body": 1e-3, "head": 1e-2}, None, 12, 32, 4),
        ("unstable", (256,), "sgd", {"body": 0.5, "head": 0.5}, None, 15, 16, 6),
        ("too slow", (128, 128, 128), "sgd", {"body": 2e-4, "head": 2e-3}, None, 10, 16, 6),
        ("healthy", (256,), "adam", {"body": 3e-3, "head": 3e-3}, None, 15, 64, 7),
        ("overfitting", (256,), "adam", {"body": 3e-3, "head": 3e-3}, 30, 80, 30, 6),
    ],
}


def record(hidden, optimizer, lrs, n_train, epochs, batch_size, seed):
    """One run on the digits (SGD with momentum 0.9, or Adam): its History."""
    data = digits(n_train=n_train, seed=seed) if n_train else digits(seed=seed)
    model = mlp(hidden, seed=seed)
    groups = by_part(model, lrs)
    opt = torch.optim.SGD(groups, momentum=0.9) if optimizer == "sgd" else torch.optim.Adam(groups)
    return train(model, opt, data, epochs=epochs, batch_size=min(batch_size, len(data.y_train)),
                 seed=seed, device="cpu")


def main() -> None:
    torch.set_num_threads(1)
    for name, runs in SETS.items():
        lines, labels = [], []
        for verdict, *setting in runs:
            h = record(*setting)
            said = diagnose(h).verdict
            assert said == verdict, f"set {name}: {setting} reads {said}, not {verdict}: not clear-cut"
            t, v = ([round(x, 3) for x in xs] for xs in (h.train_loss, h.val_loss))
            lines.append(f"        ({t}, {v}),")
            labels.append(verdict)
        print(f"# set {name}\n" + "\n".join(lines) + f"\n# labels {labels}\n")


if __name__ == "__main__":
    main()
