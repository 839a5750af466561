"""Shared paths and notebook discovery for the test suite."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import matplotlib
import pytest
import torch

pytest.register_assert_rewrite("fixture_limits")
from fixture_limits import FIXTURE_LIMIT_S  # noqa: E402

matplotlib.use("Agg")  # tests draw figures without a screen
# The course's models are tiny: one CPU thread is fastest, and a second thread spins and slows
# everything 5-30x when the 2-core CI runner is busy. Kernels and graders started by the tests
# inherit the variable.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")     # Debian's, driven by Playwright
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason="needs Debian's chromium at /usr/bin/chromium")
pytest_plugins = ["fixture_limits"]   # shared fixtures set up under limits of their own
os.environ["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"


def repository_url() -> str:
    """The one repository URL the Colab badges and install cells use, from pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["urls"]["Repository"]


def notebooks(*folders: str) -> list[Path]:
    """Every .ipynb under the given top-level folders, checkpoints excluded."""
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.ipynb")
                  if ".ipynb_checkpoints" not in p.parts)


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """Every sample of every assignment graded once by the real command line
    (``python -m autograder demo --keep DIR --all --details``), from an unrelated folder:
    (folder, stdout). The demo gets FIXTURE_LIMIT_S less a minute, so that its own one-line
    message comes first. Its stdout is kept as test-artifacts/demo_summary.txt."""
    folder = tmp_path_factory.mktemp("instructor") / "course"
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    limit = FIXTURE_LIMIT_S["graded"] - 60
    start = time.monotonic()
    try:
        proc = autograder_cli("demo", "--keep", folder, "--jobs", "2", "--timeout", "10", "--quiet",
                              "--all", "--details", "--include-solution", cwd=elsewhere,
                              timeout=limit)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout or ""
        pytest.fail(f"the demo timed out after {limit} s; its last line: "
                    f"{(out.strip().splitlines() or ['(none)'])[-1]}", pytrace=False)
    took = time.monotonic() - start
    if proc.returncode != 0:
        tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
        pytest.fail(f"the demo failed (exit {proc.returncode}, {took:.0f} s): {tail}", pytrace=False)
    (folder / "demo.stderr").write_text(proc.stderr)   # the sandbox line, for failure messages
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "demo_fixture_seconds.txt").write_text(f"{took:.1f}\n")
    (ARTIFACTS / "demo_summary.txt").write_text(proc.stdout)
    return folder, proc.stdout


def autograder_cli(*args, cwd=ROOT, env=None, timeout=300) -> subprocess.CompletedProcess:
    """``python -m autograder ARGS`` of this checkout, from ``cwd``, output captured."""
    return subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


@contextlib.contextmanager
def jupyterlab_page(p, profile: Path, failure: Path, *, timeout_ms: int, **context_args):
    """A page of Debian's Chromium for JupyterLab, in a fresh persistent ``profile`` (``p``: a
    Playwright); every wait and expect gives up after ``timeout_ms``; a "Select Kernel" dialog is
    answered with its default kernel. On an error the whole page is shot to ``failure``."""
    from playwright.sync_api import expect

    context = p.chromium.launch_persistent_context(str(profile), executable_path=str(CHROMIUM),
                                                   headless=True, args=CHROMIUM_ARGS, **context_args)
    page = context.new_page()
    expect.set_options(timeout=timeout_ms)
    page.set_default_timeout(timeout_ms)
    try:
        dialog = page.locator(".jp-Dialog").filter(has_text="Select Kernel")
        page.add_locator_handler(dialog, lambda d: d.get_by_role("button", name="Select").click())
        yield page
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(failure), full_page=True)
        raise
    finally:
        context.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(server, ready, log, what: str, timeout: float = 90) -> None:
    """Call ``ready()`` until it stops raising OSError; fail with the log's end if ``server``
    exits or ``timeout`` seconds pass (a JupyterLab's setup, its start within, took 18-22 s at
    load 7-9 on the 2-core machine: 90 s is over 3x)."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        try:
            ready()
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start:\n"
                                   + Path(log).read_text(errors="replace")[-3000:]) from None
            time.sleep(0.3)


def stop_group(server, grace: float = 15) -> None:
    """SIGTERM, then SIGKILL, the server's process group (its kernels and servers go too)."""
    import signal
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        if server.poll() is not None:
            break
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            break
        try:
            server.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(server.pid, signal.SIGKILL)   # a child left behind in the group
    except (ProcessLookupError, PermissionError):
        pass
