"""The suite's own time limits: a shared fixture is timed by its own limit, not by the limit of
the test that happens to set it up first (tests/fixture_limits.py)."""
from __future__ import annotations

import os
import subprocess
import sys

from conftest import ROOT

EXAMPLE = '''
import time, pytest

@pytest.fixture(scope="session")
def slow_but_shared():
    time.sleep(2)

@pytest.fixture(scope="module")
def hangs():
    time.sleep(60)

@pytest.mark.timeout(1.5)
def test_first_user_of_a_slow_shared_fixture(slow_but_shared):
    time.sleep(0.5)

@pytest.mark.timeout(1)
def test_slow_itself():
    time.sleep(3)

def test_hanging_fixture(hangs):
    pass
'''


def test_a_shared_fixture_has_its_own_limit_and_the_test_keeps_its_own(tmp_path):
    (tmp_path / "test_example.py").write_text(EXAMPLE)
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "fixture_limits", "-p", "no:cacheprovider",
                          "--timeout", "4", "-rA", "test_example.py"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT / "tests")})
    out = run.stdout
    assert "PASSED test_example.py::test_first_user_of_a_slow_shared_fixture" in out, out[-3000:]
    assert "FAILED test_example.py::test_slow_itself - Failed: Timeout (>1.0s)" in out, out[-3000:]
    assert "ERROR test_example.py::test_hanging_fixture - Failed: Timeout (>4.0s)" in out, out[-3000:]
