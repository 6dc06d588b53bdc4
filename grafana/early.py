"""The early-warning dashboard (issue 24): stations ranked by the heat and return temperature
they wasted, and one station's heat-load signature, from the `early_score` series the daily
early-warning job writes (analyzer/detectors/early.py)."""

from __future__ import annotations

from typing import Final

from grafana.panels import (
    Json,
    annotations_of,
    dashboard,
    query_variable,
    series,
    stat,
    steps,
    table,
    target,
)

SCORE_VAR: Final = 'SHOW TAG VALUES FROM "early_score" WITH KEY = "substation_id"'
IN_STATION: Final = '"substation_id" =~ /^$substation$/'
DAILY: Final = "GROUP BY time($__interval) fill(none)"  # one point a day: interval 1d


def _ranking() -> list[Json]:
    last = ('SELECT sum("wasted_kwh") AS "wasted_kwh", sum("wasted_cny") AS "wasted_cny", '
            'last("return_c") AS "return_c", mean("return_excess_k") AS "return_excess_k", '
            'max("warning") AS "warning" FROM "early_score" WHERE $timeFilter '
            'GROUP BY "substation_id"')
    return [
        stat(1, "早期预警 Early warnings open",
             "Stations whose latest scorecard carries an open early warning (a slow fault "
             "found before a room went cold).", (0, 0, 6, 5),
             [target("A", 'SELECT sum("w") FROM (SELECT last("warning") AS "w" FROM '
                          '"early_score" WHERE $timeFilter GROUP BY "substation_id")')],
             thresholds=steps("green", (1, "orange")), decimals=0),
        stat(2, "浪费热量 Heat wasted (kWh)",
             "Heat above the stations' own signatures, and carried back by excess return, "
             "over the time range.", (6, 0, 6, 5),
             [target("A", 'SELECT sum("wasted_kwh") FROM "early_score" WHERE $timeFilter')],
             unit="kwatth", decimals=0),
        stat(3, "折合金额 Money (CNY)", "The wasted heat at the tariff's energy price.",
             (12, 0, 6, 5),
             [target("A", 'SELECT sum("wasted_cny") FROM "early_score" WHERE $timeFilter')],
             unit="currencyCNY", decimals=0),
        table(4, "能效排名 Ranking",
              "Stations by heat wasted over the range: kWh, money, the latest return, the "
              "mean return excess over its own normal (K), and whether a warning is open.",
              (0, 5, 24, 10), [target("A", last, table=True)], sort_by="wasted_kwh",
              decimals=1),
    ]


def _signature() -> list[Json]:
    where = f'FROM "early_score" WHERE {IN_STATION} AND $timeFilter {DAILY}'
    return [
        series(5, "热负荷特征 Heat-load signature (kW)",
               "The station's mean power each day against what its own signature expects "
               "for that day's outdoor temperature (power linear in the outdoor mean below "
               "the balance point, fitted on its baseline weeks).", (0, 15, 12, 9),
               [target("A", f'SELECT mean("power_kw") AS "power_kw", mean("expected_kw") AS '
                            f'"expected_kw" {where}', "$col")],
               unit="kwatt", decimals=0, interval="1d"),
        series(6, "室外温度 Outdoor daily mean (°C)", "The temperature the signature is read at.",
               (12, 15, 6, 9),
               [target("A", f'SELECT mean("outdoor_c") AS "outdoor_c" {where}', "outdoor")],
               unit="celsius", decimals=1, interval="1d"),
        series(7, "回水超标 Return excess (K)",
               "Return temperature above the station's own normal for the outdoor "
               "temperature (Leiria et al. 2025: the reliable sign of a fault).",
               (18, 15, 6, 9),
               [target("A", f'SELECT mean("return_excess_k") AS "return_excess_k" {where}',
                       "excess")],
               unit="suffix: K", decimals=2, interval="1d",
               thresholds=steps("transparent", (1, "orange"))),
    ]


def early() -> Json:
    """The early-warning dashboard: the ranking, and a station's signature."""
    return dashboard("heatwatch-early", "早期预警 Early warnings",
                     "Slow faults found before the residents call: stations ranked by wasted "
                     "heat and return temperature, and each station's heat-load signature.",
                     [*_ranking(), *_signature()],
                     variables=[query_variable("substation", "换热站 Substation", SCORE_VAR)],
                     time_from="now-30d", refresh="1h", tags=["early"],
                     annotations=annotations_of(IN_STATION))
