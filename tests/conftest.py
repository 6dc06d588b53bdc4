"""Shared fixtures: real services, and the rule that CI never skips a test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import Influxd, Mosquitto, have

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped:
        # every test here runs in CI: a missing browser, service or package is a failure
        report.outcome = "failed"
        report.longrepr = f"test skipped under CI=true: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    """A module skipped whole (importorskip, a module-level skip) fails under CI too."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"module skipped under CI=true: {report.longrepr}"


def _need(name: str) -> None:
    if not have(name):
        pytest.skip(f"{name} is not installed (the README's test command installs it)")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    _need("mosquitto")
    m = Mosquitto(tmp_path / "mosquitto")
    m.start()
    yield m
    m.kill()


@pytest.fixture
def influxd(tmp_path: Path) -> Iterator[Influxd]:
    _need("influxd")
    i = Influxd(tmp_path / "influxd")
    i.start()
    yield i
    i.kill()


@pytest.fixture(scope="session")
def influxd_shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    """One influxd for tests that each use their own database."""
    _need("influxd")
    i = Influxd(tmp_path_factory.mktemp("influxd"))
    i.start()
    yield i
    i.kill()
