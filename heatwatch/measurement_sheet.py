"""The printed measurement record (测温记录单, issue 22) from the stored record: its household from
the records, its instrument from the register, what it decides by the city's rules, and the
signatures from whatever stores them (`documents.measurement.SignatureSource`)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path

from documents.measurement import Household, Sheet, Signature, SignatureSource, render_pdf
from heatwatch.bootstrap import records as load_records
from heatwatch.common import analyzer_config, output_path, timezone, write_output
from heatwatch.config import Config
from heatwatch.errors import UserError
from heatwatch.measurement_refunds import record_state
from workflow.signatures import png_bytes
from workflow.unit import Repositories


def stored_signatures(repos: Repositories, tz: dt.tzinfo) -> SignatureSource:
    """The signatures the measurer's phone page kept with a record (`Record.signatures`, the
    drawings in workflow.signatures), as the printed record shows them."""

    def source(record_id: str) -> list[Signature]:
        r = repos.measurements.get(record_id)
        out = []
        for e in r.signatures if r else []:
            drawing = repos.signatures.drawing(record_id, str(e["role"]))
            out.append(Signature(
                str(e["role"]), str(e["signer"]), png_bytes(drawing) if drawing else None,
                "image/png", dt.datetime.fromtimestamp(int(e["signed_ms"]) / 1000, tz
                                                       ).strftime("%Y-%m-%d %H:%M"),
                bool(e["refused"]), str(e["note"])))
        return out

    return source


def sheet(cfg: Config, repos: Repositories, record_id: str,
          signatures: SignatureSource | None = None,
          clock: Callable[[], float] = time.time) -> Sheet:
    """Everything the printed record shows; an unknown id is one line."""
    r = repos.measurements.get(record_id)
    if r is None:
        raise UserError(f"measurement {record_id} not found")
    recs = load_records(cfg)
    acc = recs.accounts.get(r.account_id)
    building = recs.buildings.get(acc.building_id) if acc else None
    household = Household(r.account_id, building.address if building else "",
                          acc.unit if acc else "", acc.area_m2 if acc else 0.0)
    city, tz = analyzer_config(cfg).rules(), timezone(cfg)
    return Sheet(
        r, household, repos.measurements.instrument(r.instrument_id), cfg.desk.measurements,
        record_state(r, city), city.rooms.min_c, tz,
        dt.datetime.fromtimestamp(clock(), tz).strftime("%Y-%m-%d %H:%M"),
        corrects=repos.measurements.get(r.corrects) if r.corrects else None,
        corrected_by=repos.measurements.corrected().get(r.record_id, ""),
        signatures=(signatures or stored_signatures(repos, tz))(r.record_id))


def write_pdf(cfg: Config, repos: Repositories, record_id: str, out: str | None,
              force: bool = False, signatures: SignatureSource | None = None) -> Path:
    """`measurements show ID --format pdf [--out FILE]`: the record's A4 PDF, to FILE or
    测温记录-ID.pdf in the working folder; the id and the path are checked before
    anything is printed."""
    s = sheet(cfg, repos, record_id, signatures)
    target = output_path(out or f"测温记录-{record_id}.pdf", force)
    write_output(target, render_pdf(s))
    return target
