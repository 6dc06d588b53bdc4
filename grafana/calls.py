"""The control room's calls panels (issue 21): residents' calls per substation and the open
complaints by the day they are due, from the `calls` and `calls_due` series the alerts service
writes from the workflow file (alerts/calls_series.py)."""

from __future__ import annotations

from typing import Final

from grafana.panels import Json, last_by, stat, steps, table, target, value_map
from policy.calls import KIND_NAMES

# alerts/calls_series.py writes every substation and kind each minute, zeros too: the last is now
CALLS_LAST: Final = last_by("calls", ["open", "overdue", "total"], ["substation_id", "kind"])
DUE_LAST: Final = last_by("calls_due", ["open", "overdue"], ["due_day", "kind"])
RED_FROM_1: Final[Json] = steps("green", (1, "red"))


def kind_names() -> list[Json]:
    """The kind tag shown in Chinese."""
    return value_map(*((k, f"{name} {k}", "text") for k, name in KIND_NAMES.items()))


def _by_name(column: str, prop: str, value: object) -> Json:
    return {"matcher": {"id": "byName", "options": column},
            "properties": [{"id": prop, "value": value}]}


def control_room_calls(first_id: int, y: int) -> list[Json]:
    """Four panels from grid row `y`: open and overdue calls, calls by substation and kind,
    open complaints and reports by due day."""
    i = first_id
    return [
        stat(i, "在办来电 Open calls",
             "Residents' calls taken and not yet closed (a repair waits for its return visit), "
             "summed over substations and kinds.",
             (0, y, 4, 4),
             [target("A", f'SELECT sum("open") FROM ({CALLS_LAST})', "open")],
             thresholds=steps("blue"), no_value="0", decimals=0),
        stat(i + 1, "超期来电 Overdue calls",
             "Open calls past their due time (the city's limit of each kind: on site for "
             "repairs, working days on China's calendar for complaints and applications).",
             (0, y + 4, 4, 4),
             [target("A", f'SELECT sum("overdue") FROM ({CALLS_LAST})', "overdue")],
             thresholds=RED_FROM_1, no_value="0", decimals=0),
        table(i + 2, "来电 Calls by substation",
              "Per substation and kind, latest: calls open now, open ones overdue, and every "
              "call taken.",
              (4, y, 10, 8),
              [target("A", f'SELECT "open", "overdue", "total" FROM ({CALLS_LAST}) '
                           'GROUP BY "substation_id", "kind"', table=True)],
              sort_by="open", decimals=0,
              overrides=[_by_name("overdue", "thresholds", RED_FROM_1),
                         _by_name("kind", "mappings", kind_names())]),
        table(i + 3, "待办投诉 Open complaints by due date",
              "Complaints (投诉) and reports (举报) not yet answered, by the day they are due; "
              "a day before today is overdue.",
              (14, y, 10, 8),
              [target("A", f'SELECT "open", "overdue" FROM ({DUE_LAST}) WHERE "open" > 0 '
                           'GROUP BY "due_day", "kind"', table=True)],
              sort_by="due_day", desc=False, decimals=0,
              overrides=[_by_name("overdue", "thresholds", RED_FROM_1),
                         _by_name("kind", "mappings", kind_names())]),
    ]
