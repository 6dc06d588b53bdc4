"""Outages on residents' records: who is affected, the notice at 24 h, and their compensation."""

from __future__ import annotations

import datetime as dt

from alerts.config import AlertsConfig
from alerts.handlers import outage_reason
from alerts.messages import Messenger
from alerts.sla import HOUR_MS
from district.records import Records
from policy.outages import (
    account_compensation_cny,
    compensated_days,
    notice_due_ms,
    season_fee_cny,
)
from policy.rules import CityRules
from workflow.details import BuildingOutageDetails, OutageDetails
from workflow.incidents import Incident
from workflow.notices import Compensation, Notice
from workflow.orders import Order
from workflow.outbox import Message
from workflow.unit import Repositories

SYSTEM = "heatwatch"


class Residents:
    """notify_residents and compensate_residents, each inside the caller's unit of work."""

    def __init__(self, cfg: AlertsConfig, records: Records, messenger: Messenger,
                 rules: CityRules) -> None:
        self.cfg = cfg
        self.records = records
        self.messenger = messenger
        self.rules = rules
        self._accounts_by_building: dict[str, list[str]] = {}
        for acc in records.accounts.values():
            self._accounts_by_building.setdefault(acc.building_id, []).append(acc.account_id)

    def affected_accounts(self, inc: Incident) -> list[str]:
        """The accounts an outage leaves cold: its building, or its station's."""
        if inc.kind == "building_outage" or (inc.building_id and not inc.substation_id):
            return sorted(self._accounts_by_building.get(inc.building_id, []))
        out: list[str] = []
        for b in self.records.buildings.values():
            if b.substation_id == inc.substation_id:
                out.extend(self._accounts_by_building.get(b.building_id, []))
        return sorted(out)

    def heated_accounts(self, u: Repositories, inc: Incident) -> list[str]:
        """The affected accounts less those suspended for the season (暂停供暖 accepted at
        the desk): a suspended flat is owed neither a notice nor compensation."""
        start = dt.datetime.fromtimestamp(inc.started_ms / 1000, self.messenger.tz).date()
        suspended = u.calls.suspended(self.rules.season.year_of(start))
        return [a for a in self.affected_accounts(inc) if a not in suspended]

    def notify(self, u: Repositories, order: Order, now_ms: int) -> None:
        """seed: an outage not restored within 24 h: tell the residents why, then compensate."""
        inc = u.incidents.get(order.incident_key)
        if inc is None:
            return
        due = notice_due_ms(inc.started_ms, self.rules.outages)
        if inc.closed_ms is not None and inc.closed_ms < due:
            return  # restored before the notice ([analyzer.outages] over_h): no notice
        d = self.messenger.templates.defaults
        reason = inc.details.reason if isinstance(inc.details, OutageDetails) else ""
        # the analyzer's words become the templates' Chinese phrase
        reason = outage_reason(reason, self.messenger.templates.causes) if reason else ""
        reason = reason or str(d.get("reason", ""))
        # dispatch's estimate where one was given (`orders estimate`), else the template's words
        est = u.estimates.get(inc.key)
        restore = self.messenger.t(est.restore_ms) if est else d.get("expected_restore", "")
        channel = self.cfg.resident_channel
        accounts = self.heated_accounts(u, inc)
        for aid in accounts:
            acc = self.records.accounts[aid]
            b = self.records.buildings[acc.building_id]
            delivery = "sms" if channel and acc.phone else "record"
            title, body = self.messenger.templates.render("resident_notice", {
                "address": b.address, "started": self.messenger.t(inc.started_ms),
                "reason": reason, "expected_restore": restore, "order_id": order.order_id})
            nid = f"N-{order.order_id}-{aid}"
            added = u.notices.add(Notice(nid, inc.key, aid, b.building_id, b.substation_id,
                                         now_ms, delivery, reason, body))
            if added and delivery == "sms":
                # the phone is looked up at send time: it is never stored in the outbox
                u.outbox.enqueue(Message(f"{order.order_id}:resident_notice:{aid}", channel,
                                         title, body, aid, {"notice_id": nid}), now_ms)
        u.orders.audit(order.order_id, now_ms, SYSTEM, "notify_residents", order.state,
                       order.state, f"{len(accounts)} accounts")
        self.compensate(u, inc, now_ms)

    def compensate(self, u: Repositories, inc: Incident, now_ms: int) -> None:
        """docs/rules.md: refund = daily fee × outage days (part days up), daily fee =
        season ÷ days.

        An outage is on the residents' records once it has lasted the city's `counts_from_h`
        (24 h by default, Luoyang 12 h), whether or not it has reached the 24 h notice; the
        records follow its duration until it closes (then they are final)."""
        if not isinstance(inc.details, OutageDetails | BuildingOutageDetails):
            return
        end_ms = inc.closed_ms if inc.closed_ms is not None else now_ms
        duration_h = float(inc.details.duration_h or (end_ms - inc.started_ms) / HOUR_MS)
        days = compensated_days(duration_h, self.rules.compensation)
        if days == 0 and not u.compensation.exists(inc.key):
            return  # shorter than the city counts
        season_days = self._season_days(inc.started_ms)
        for aid in self.heated_accounts(u, inc):
            acc = self.records.accounts[aid]
            fee = season_fee_cny(acc.area_m2, self.rules)
            amount = account_compensation_cny(acc.tariff, acc.area_m2, duration_h, season_days,
                                              self.rules)
            u.compensation.put(Compensation(inc.key, aid, inc.started_ms, duration_h, days,
                                            str(fee), season_days, str(amount),
                                            inc.closed_ms is not None, now_ms))

    def _season_days(self, started_ms: int) -> int:
        """The length of the heating season the outage began in."""
        start = dt.datetime.fromtimestamp(started_ms / 1000, self.messenger.tz).date()
        season = self.rules.season
        return season.days(season.year_of(start))
