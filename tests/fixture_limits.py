"""A pytest plugin: fixtures shared by several tests run under time limits of their own.

pytest-timeout times a test together with the setup of every fixture it asks for, so the first
test to use a shared fixture (module or session scope) would pay for it, within its own limit.
Here that test's timer stops while such a fixture sets up, the fixture gets its own limit, and
the test's timer then starts again, whole.
"""
from __future__ import annotations

import pytest
import pytest_timeout

# A shared fixture's limit: pytest's `timeout` (600 s in pyproject.toml), or the one named here:
# 3x what it took on the busy 2-core machine (2026-12-08, load 3-17, mean 8: four sessions' work).
# `graded`: the demo over every sample of the six assignments and their solutions (131
#   notebooks), 817 s (309 s idle before ps6, 2026-12-07);
# `neighbours` (test_sandbox): one worker grading attackers and honest students in turn, then
#   feedback and export, 595 s (it ran under the default 600 s);
# `attacked` (test_sandbox): two workers, each destructive sample between two victims, 262 s.
FIXTURE_LIMIT_S = {"graded": 2500, "neighbours": 1800, "attacked": 900}
_running: dict[str, pytest.Item] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item):
    """Remember the test being run (a shared fixture's setup happens inside one)."""
    _running["item"] = item


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    """A shared fixture's setup: the test's pytest-timeout timer is stopped, the fixture's own
    limit runs while it sets up, and the test's timer then starts again, whole."""
    item = _running.get("item")
    if fixturedef.scope == "function" or item is None:
        return (yield)
    settings = pytest_timeout._get_item_settings(item)
    if not settings.timeout or settings.func_only:
        return (yield)
    hooks = item.config.hook
    limit = FIXTURE_LIMIT_S.get(fixturedef.argname, pytest_timeout.get_env_settings(item.config).timeout)
    hooks.pytest_timeout_cancel_timer(item=item)
    if limit:
        hooks.pytest_timeout_set_timer(item=item, settings=settings._replace(timeout=float(limit)))
    try:
        return (yield)
    finally:
        hooks.pytest_timeout_cancel_timer(item=item)
        hooks.pytest_timeout_set_timer(item=item, settings=settings)
