"""``python -m lrlab info``: what a student needs to report when something is off."""
from __future__ import annotations

import sys
from importlib import metadata


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def info() -> str:
    import torch

    from . import __version__
    from .data import preset
    from .models import mlp
    from .train import choose_device, pick_device

    gpu = pick_device()
    name = f" ({torch.cuda.get_device_name(gpu)})" if gpu.type == "cuda" else ""
    lab = choose_device(mlp(), preset("normal"))       # as the default lab chooses: timed
    rows = [("lrlab", __version__), ("python", sys.version.split()[0]),
            ("torch", torch.__version__), ("trains on", f"{lab.device}: {lab.reason}"),
            ("accelerator", f"{gpu}{name}" if gpu.type != "cpu" else "none")]
    rows += [(p, _version(p)) for p in ("ipywidgets", "jupyterlab_widgets", "jupyterlab",
                                         "notebook", "nbgrader", "matplotlib")]
    rows.append(("on Colab", "yes" if "google.colab" in sys.modules or _version("google-colab")
                 != "not installed" else "no"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def main(argv: list[str]) -> int:
    if argv != ["info"]:
        print("usage: python -m lrlab info   (versions, and the device the lab trains on and why)",
              file=sys.stderr)
        return 2
    print(info())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
