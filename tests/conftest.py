"""Shared fixtures: real services, and the rule that CI never skips a test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services import Influxd, Mosquitto, Postgres, have, have_postgres

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


def _need_postgres() -> None:
    if not have_postgres():
        pytest.skip("PostgreSQL is not installed (scripts/test installs Debian's postgresql)")


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """One PostgreSQL cluster per xdist worker; each test takes its own database."""
    _need_postgres()
    p = Postgres(tmp_path_factory.mktemp("postgres"))
    p.start()
    yield p
    p.remove()


@pytest.fixture
def postgres_own(tmp_path: Path) -> Iterator[Postgres]:
    """A cluster of the test's own, for a test that kills or restarts it."""
    _need_postgres()
    p = Postgres(tmp_path / "postgres")
    p.start()
    yield p
    p.remove()


@pytest.fixture(params=["sqlite", "postgresql"])
def workflow_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """A new, empty workflow database on each backend: a SQLite file's path, or the URL of a
    fresh PostgreSQL database (the contract suite runs every repository test on both)."""
    if request.param == "sqlite":
        return tmp_path / "workflow.sqlite"
    pg: Postgres = request.getfixturevalue("postgres")
    return pg.new_database()


@pytest.fixture
def on_both_backends(workflow_target: Path | str, monkeypatch: pytest.MonkeyPatch
                     ) -> Path | str:
    """A test module's `pytestmark = pytest.mark.usefixtures("on_both_backends")` runs its
    tests' alerts services (tests.test_alerts_support.make_service) on SQLite and PostgreSQL."""
    import tests.test_alerts_support as support

    monkeypatch.setattr(support, "WORKFLOW_TARGET", workflow_target)
    return workflow_target
