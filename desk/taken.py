"""What became of a call: the record the intake and the orders it opens share."""

from __future__ import annotations

from dataclasses import dataclass, field

from workflow.calls import Call


@dataclass(slots=True)
class Taken:
    """What became of a call: the stored call, and what the clerk reads to the resident."""

    call: Call
    refused: str = ""
    incident_key: str = ""
    incident_cause: str = ""
    cluster: bool = False
    data_note: str = ""
    notes: list[str] = field(default_factory=list)
