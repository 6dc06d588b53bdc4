"""The workflow port: every table behind a repository, every change inside a unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workflow import (
    calls,
    estimates,
    incidents,
    measurement_links,
    measurements,
    notices,
    orders,
    outbox,
    reports,
    signatures,
    staff,
    visits,
)
from workflow.db import Conn, Database


class Repositories:
    """The repositories over one connection: a unit's (read-write) or the reader's."""

    def __init__(self, conn: Conn) -> None:
        self.incidents = incidents.Incidents(conn)
        self.orders = orders.Orders(conn)
        self.deadlines = orders.Deadlines(conn)
        self.counters = orders.Counters(conn)
        self.notices = notices.Notices(conn)
        self.compensation = notices.Compensations(conn)
        self.billing = notices.BillingBases(conn)
        self.outbox = outbox.Outbox(conn)
        self.calls = calls.Calls(conn)
        self.staff = staff.Staff(conn)
        self.measurements = measurements.Measurements(conn)
        self.signatures = signatures.Signatures(conn)
        self.visits = visits.Visits(conn)
        self.measurement_links = measurement_links.MeasurementLinks(conn)
        self.reports = reports.ReportSnapshots(conn)
        self.estimates = estimates.Estimates(conn)


class WorkflowDb(Repositories):
    """The workflow file. Its own repositories only read; `unit()` gives ones that write.

        with db.unit() as u:          # one transaction
            u.orders.set_state(order)
            u.outbox.enqueue(message, now_ms)   # commits with the order, or neither does
    """

    def __init__(self, path: Path | str, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self._db = Database(self.path, [incidents.SCHEMA, orders.SCHEMA, notices.SCHEMA,
                                        outbox.SCHEMA, calls.SCHEMA, staff.SCHEMA,
                                        measurements.SCHEMA, reports.SCHEMA,
                                        estimates.SCHEMA, signatures.SCHEMA, visits.SCHEMA,
                                        measurement_links.SCHEMA],
                                       busy_timeout_s)
        self.health = self._db.health  # why the store is degraded now (StoreBusy)
        super().__init__(self._db.reader)

    @contextmanager
    def unit(self) -> Iterator[Repositories]:
        """One unit of work: everything written through it commits together or not at all."""
        with self._db.transaction() as conn:
            yield Repositories(conn)

    def close(self) -> None:
        self._db.close()
