"""pyproject.toml, environment.yml, constraints.txt and the Makefile agree."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement

from conftest import ROOT


def _pyproject():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _conda_pip_list() -> list[str]:
    """The pip: section of environment.yml (a plain list; no YAML library needed)."""
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("  - pip:") + 1
    return [line.strip()[2:] for line in lines[start:] if line.startswith("      - ")]


def test_environment_yml_has_the_same_requirements_as_pyproject():
    project = _pyproject()
    wanted = project["dependencies"] + [r for extra in ("course", "dev", "classroom")
                                        for r in project["optional-dependencies"][extra]]
    conda = [r for r in _conda_pip_list() if not r.startswith("-e")]
    assert sorted(map(str, map(Requirement, conda))) == sorted(map(str, map(Requirement, wanted))), \
        "environment.yml's pip list and pyproject.toml (dependencies + course + dev + classroom) drifted apart"
    assert "-e ." in _conda_pip_list(), "environment.yml must install the lrlab package itself"


def test_constraints_pin_every_requirement_and_torch_exactly():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            req = Requirement(line)
            pins[req.name.lower().replace("_", "-")] = str(req.specifier)
    assert pins["torch"] == "==2.13.0", "the dev/CI install must pin torch==2.13.0 (the CPU build on disk)"
    project = _pyproject()
    for r in project["dependencies"] + [r for x in project["optional-dependencies"].values() for r in x]:
        name = Requirement(r).name.lower().replace("_", "-")
        assert name in pins, f"{name} is a requirement but constraints.txt does not pin it"
        assert pins[name].startswith("=="), f"{name} must be pinned with == in constraints.txt"
        version = pins[name][2:]
        assert Requirement(r).specifier.contains(version), f"{name}=={version} violates {r}"


def test_installed_versions_match_the_constraints():
    from importlib import metadata

    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            req = Requirement(line)
            installed = metadata.version(req.name).split("+")[0]
            assert req.specifier.contains(installed), f"{req.name} {installed} installed, {req} wanted"


def test_makefile_puts_the_venv_on_path_and_has_the_two_commands():
    text = (ROOT / "Makefile").read_text()
    assert re.search(r"^export PATH := \$\(BIN\):\$\(PATH\)", text, re.M), "venv bin must be on PATH"
    for target in ("lab", "test"):
        assert re.search(rf"^{target}: venv", text, re.M), f"make {target} must create the venv first"
    assert "-c constraints.txt" in text


def test_make_lab_asks_no_one_about_news():
    """JupyterLab's app settings in the venv (what `make lab` opens) turn its news and update
    checks off, so a student's first open shows no prompt about "official Jupyter news"."""
    import json
    from pathlib import Path

    overrides = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert overrides.is_file(), f"{overrides} is missing: make venv copies it"
    notification = json.loads(overrides.read_text())["@jupyterlab/apputils-extension:notification"]
    assert notification == {"fetchNews": "false", "checkForUpdates": False}


def test_make_lab_is_the_hub_students_configuration_under_self_study():
    """`make lab` gives JupyterLab the classroom student's configuration folders, as the hub does
    (one source of truth for a student's nbgrader tools), under classroom/config/self-study."""
    import os
    from pathlib import Path

    sys.path.insert(0, str(ROOT))
    from classroom.settings import Settings

    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_CONFIG_PATH"}
    dry = subprocess.run(["make", "-s", "-n", "-o", "venv", "lab"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    found = re.search(r"^JUPYTER_CONFIG_PATH=(\S+?)\$\{JUPYTER_CONFIG_PATH:\+", dry, re.M)
    assert found, f"make lab sets no JUPYTER_CONFIG_PATH:\n{dry}"
    lab = [Path(p) for p in found[1].split(":")]
    hub = Settings(course="c", instructors=["t"], students=["s"], env=Path("/nonexistent"))
    hub_names = [Path(p).name for p in hub.environment("s")["JUPYTER_CONFIG_PATH"].split(os.pathsep)]
    assert [p.name for p in lab] == ["self-study", *hub_names]
    assert all(p == ROOT / "classroom" / "config" / p.name and p.is_dir() for p in lab), lab


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text()[:1500]
    assert "make lab" in head and "make test" in head


def test_lrlab_info_reports_what_a_student_needs():
    out = subprocess.run([sys.executable, "-m", "lrlab", "info"], capture_output=True, text=True,
                         check=True).stdout
    for key in ("torch", "trains on", "accelerator", "ipywidgets", "jupyterlab_widgets", "on Colab"):
        assert key in out
    from lrlab.data import preset
    from lrlab.models import mlp
    from lrlab.train import choose_device

    rows = dict(line.split(None, 1) if " " in line else (line, "") for line in out.splitlines()
                if not line.startswith(("trains on", "on Colab")))
    assert rows["torch"].strip() == __import__("torch").__version__
    device_line = next(line for line in out.splitlines() if line.startswith("trains on"))
    lab = choose_device(mlp(), preset("normal"))     # the lab's own, timed choice, and why
    assert device_line.split(None, 2)[2] == f"{lab.device}: {lab.reason}"
    bad = subprocess.run([sys.executable, "-m", "lrlab", "nonsense"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage: python -m lrlab info" in bad.stderr


# The one message setuptools prints on every editable install of a flat layout (an
# InformationOnly notice, not a warning about this project): "Please be careful with folders in
# your working directory with the same name as your package".
EDITABLE_NOTICE = re.compile(r"BuildBackendWarning: Editable installation\.$")


def _warnings(output: str) -> list[str]:
    """Lines of a build's output that warn or announce a deprecation (pip's own warnings about
    this machine's package mirrors are left out: the test runs pip with no config file)."""
    return [line.strip() for line in output.splitlines()
            if re.search(r"warn|deprecat", line, re.I) and not EDITABLE_NOTICE.search(line.strip())]


def test_build_and_editable_install_print_no_warning(tmp_path):
    """``python -m build`` (the sdist, then the wheel from it) and ``pip install -e .`` as a user
    runs them, each in an isolated build environment with the newest setuptools allowed: any
    warning fails (a deprecation, a package that would be left out, a license in the old form)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # a user's shell
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
    build = subprocess.run([sys.executable, "-m", "build", "--outdir", tmp_path / "dist", ROOT], capture_output=True, text=True, env=env, timeout=600)
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    assert sorted(p.suffix for p in (tmp_path / "dist").iterdir()) == [".gz", ".whl"]
    assert not _warnings(build.stdout + build.stderr), _warnings(build.stdout + build.stderr)

    subprocess.run([sys.executable, "-m", "venv", tmp_path / "venv"], check=True, timeout=300)
    pip = subprocess.run([tmp_path / "venv" / "bin" / "python", "-m", "pip", "install", "--no-deps",
                          "-e", ROOT], capture_output=True, text=True, env=env, timeout=600)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    assert not _warnings(pip.stdout + pip.stderr), _warnings(pip.stdout + pip.stderr)
