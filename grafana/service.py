"""The service dashboard (issue 23): work orders, their deadlines and residents' calls read
straight from the workflow's PostgreSQL through Grafana's built-in PostgreSQL data source.

Why not InfluxDB: orders and calls are rows that change state, not samples. Copying them into a
time series (alerts/calls_series.py does that each minute for the control room's wall, and keeps
doing it for SQLite sites) shows them up to a minute late and only as counts; PostgreSQL answers
"which orders are late now, whose, since when" exactly. Grafana signs in as a read-only role
(README, production: the `grafana_reader` grants) and sees only the columns named in GRANTS.

Every query uses only `$__from` and `$__to` (epoch milliseconds, as the workflow stores its
times), so tests run each one on a real PostgreSQL with those two values put in.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Final

from alerts.calls_series import DUE_DAY_KINDS
from alerts.lifecycle import FINAL, STATE_TEXT
from grafana.panels import Json, dashboard, series, stat, steps, table, value_map
from policy.calls import KIND_NAMES, REPAIR_KINDS
from workflow.calls import OPEN_STATES


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# grafana/provisioning/datasources/postgres.yml
PG_DATASOURCE: Final[Json] = {"type": "grafana-postgresql-datasource", "uid": "heatwatch-postgres"}
# what Grafana's role may read, column by column: no address, resident's name, call text or
# note (`python -m grafana.service --grants ROLE` prints the GRANTs; README, production)
GRANTS: Final = {
    "alert_order": ("order_id", "kind", "crew", "state", "substation_id", "opened_ms"),
    "order_deadline": ("order_id", "step", "due_ms", "done_ms"),
    "desk_call": ("call_id", "kind", "substation_id", "received_ms", "due_ms", "state"),
}
OPEN_CALL: Final = f"state IN {_in(OPEN_STATES)}"  # a clerk still holds the call
OPEN_ORDER: Final = f"state NOT IN {_in(FINAL)}"
COMPLAINTS: Final = DUE_DAY_KINDS  # answered by a working day: the control room's list too
RED_FROM_1: Final[Json] = steps("green", (1, "red"))


def sql(ref_id: str, query: str, time_series: bool = False) -> Json:
    """One raw SQL query of a panel, as Grafana's PostgreSQL editor saves it in code mode."""
    return {"refId": ref_id, "datasource": dict(PG_DATASOURCE), "rawQuery": True,
            "editorMode": "code", "rawSql": query,
            "format": "time_series" if time_series else "table"}


def on_postgres(panel: Json) -> Json:
    """A panel built by grafana.panels reading from the PostgreSQL source."""
    panel["datasource"] = dict(PG_DATASOURCE)
    return panel


def _hour(column: str) -> str:
    return f"to_timestamp(floor({column} / 3600000.0) * 3600)"


def order_panels() -> list[Json]:
    states = value_map(*((s, f"{text} {s}", "text") for s, text in STATE_TEXT.items()))
    return [
        on_postgres(stat(1, "在办工单 Open orders",
                         "Work orders not closed or cancelled, now.", (0, 0, 4, 4),
                         [sql("A", f"SELECT count(*) AS open FROM alert_order WHERE {OPEN_ORDER}")],
                         thresholds=steps("blue"), no_value="0", decimals=0)),
        on_postgres(stat(2, "超时工单 Orders past a deadline",
                         "Open orders with a step (dispatch, contact, on site, repair) past its "
                         "due time and not done, at the end of the time range.", (0, 4, 4, 4),
                         [sql("A", "SELECT count(DISTINCT order_id) AS late FROM order_deadline "
                                   "WHERE done_ms IS NULL AND due_ms < $__to")],
                         thresholds=RED_FROM_1, no_value="0", decimals=0)),
        on_postgres(table(3, "工单 Orders by kind and state",
                          "Open orders per kind and state.", (4, 0, 8, 8),
                          [sql("A", "SELECT kind, state, count(*) AS orders FROM alert_order "
                                    f"WHERE {OPEN_ORDER} GROUP BY kind, state "
                                    "ORDER BY kind, state")],
                          sort_by="orders", decimals=0,
                          overrides=[{"matcher": {"id": "byName", "options": "state"},
                                      "properties": [{"id": "mappings", "value": states}]}])),
        on_postgres(table(4, "超时环节 Late steps",
                          "Each step past its due time and not done: the order, its crew, the "
                          "step and when it was due (oldest first).", (12, 0, 12, 8),
                          [sql("A", "SELECT d.order_id, o.kind, o.crew, d.step, "
                                    "to_timestamp(d.due_ms / 1000.0) AS due FROM order_deadline d "
                                    "JOIN alert_order o ON o.order_id = d.order_id "
                                    "WHERE d.done_ms IS NULL AND d.due_ms < $__to "
                                    "ORDER BY d.due_ms LIMIT 100")],
                          sort_by="due", desc=False)),
        on_postgres(series(5, "新工单 Orders opened per hour",
                           "Orders opened in each hour of the time range, per kind.",
                           (0, 8, 12, 8),
                           [sql("A", f"SELECT {_hour('opened_ms')} AS time, kind AS metric, "
                                     "count(*) AS value FROM alert_order "
                                     "WHERE opened_ms BETWEEN $__from AND $__to "
                                     "GROUP BY 1, 2 ORDER BY 1", time_series=True)],
                           bars=True, decimals=0)),
        on_postgres(stat(6, "按时完成率 Steps on time",
                         "Of the order steps done in the time range, the share done by their "
                         "due time.", (12, 8, 4, 8),
                         [sql("A", "SELECT 100.0 * avg(CASE WHEN done_ms <= due_ms THEN 1 "
                                   "ELSE 0 END) AS on_time FROM order_deadline "
                                   "WHERE done_ms BETWEEN $__from AND $__to")],
                         unit="percent", decimals=1,
                         thresholds=steps("red", (90, "orange"), (98, "green")))),
    ]


def call_panels(y: int) -> list[Json]:
    kinds = value_map(*((k, f"{name} {k}", "text") for k, name in KIND_NAMES.items()))
    kind_names = [{"matcher": {"id": "byName", "options": "kind"},
                   "properties": [{"id": "mappings", "value": kinds}]}]
    return [
        on_postgres(table(7, "来电 Calls by kind",
                          "Per kind: calls still open, open ones past their due time at the end "
                          "of the range, and calls taken within the range.", (0, y, 10, 8),
                          [sql("A", f"SELECT kind, count(*) FILTER (WHERE {OPEN_CALL}) AS open, "
                                    f"count(*) FILTER (WHERE {OPEN_CALL} AND due_ms < $__to) "
                                    "AS overdue, count(*) FILTER (WHERE received_ms BETWEEN "
                                    "$__from AND $__to) AS taken FROM desk_call GROUP BY kind "
                                    "ORDER BY kind")],
                          sort_by="open", decimals=0,
                          overrides=[*kind_names,
                                     {"matcher": {"id": "byName", "options": "overdue"},
                                      "properties": [{"id": "thresholds",
                                                      "value": RED_FROM_1}]}])),
        on_postgres(table(8, "待办投诉 Open complaints",
                          "Complaints (投诉) and reports (举报) not yet answered, by due time; "
                          "overdue = 1 when past it.", (10, y, 14, 8),
                          [sql("A", "SELECT call_id, kind, substation_id, "
                                    "to_timestamp(due_ms / 1000.0) AS due, "
                                    "CASE WHEN due_ms < $__to THEN 1 ELSE 0 END AS overdue "
                                    f"FROM desk_call WHERE kind IN {_in(COMPLAINTS)} AND "
                                    f"{OPEN_CALL} ORDER BY due_ms LIMIT 100")],
                          sort_by="due", desc=False, decimals=0, overrides=kind_names)),
        on_postgres(series(9, "来电 Calls per hour",
                           "Calls taken in each hour, per kind; repairs (报修) are "
                           + ", ".join(REPAIR_KINDS) + ".", (0, y + 8, 24, 8),
                           [sql("A", f"SELECT {_hour('received_ms')} AS time, kind AS metric, "
                                     "count(*) AS value FROM desk_call "
                                     "WHERE received_ms BETWEEN $__from AND $__to "
                                     "GROUP BY 1, 2 ORDER BY 1", time_series=True)],
                           bars=True, decimals=0)),
    ]


def service() -> Json:
    return dashboard("heatwatch-service", "heatwatch · 工单与来电 Service",
                     "Work orders, their deadlines and residents' calls, live from the "
                     "workflow's PostgreSQL.",
                     [*order_panels(), *call_panels(16)], time_from="now-7d", refresh="1m",
                     tags=["service"])


def grant_sql(role: str) -> str:
    """The statements that let `role` (an existing login role) read what the service dashboard
    shows, and nothing else of the workflow."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise ValueError(f"role {role!r}: lower-case letters, digits and _ only")
    lines = [f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role};"]
    lines += [f"GRANT SELECT ({', '.join(cols)}) ON {table} TO {role};"
              for table, cols in GRANTS.items()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grafana.service",
                                 description="The PostgreSQL grants of Grafana's read-only role.")
    ap.add_argument("--grants", metavar="ROLE", required=True,
                    help="print the GRANT statements for this role (pipe them into psql)")
    args = ap.parse_args(argv)
    try:
        print(grant_sql(args.grants), end="")
    except ValueError as e:
        print(f"grafana.service: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
