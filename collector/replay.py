"""Dead letters replayed once their cause is fixed: parsed again and stored again."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from collector.batches import split_write
from collector.deadletter import DeadLetters
from collector.payloads import Registered, Rejection, element_of, parse_indexed
from district.readings import Reading
from storage.base import Store


@dataclass(slots=True)
class ReplayResult:
    letters: int = 0       # dead letters of the cause looked at
    replayed: int = 0      # taken out of the dead letters (stored, or refused anew)
    stored: int = 0        # readings written to the store
    refused: Counter[str] = field(default_factory=Counter)  # kept again, by (new) cause
    truncated: int = 0     # payload cut at keep_payload_bytes: cannot be replayed, kept

    def line(self, cause: str) -> str:
        again = ", ".join(f"{c} {n}" for c, n in sorted(self.refused.items()))
        return (f"replayed {self.replayed} of {self.letters} {cause} dead letters: "
                f"{self.stored} readings stored"
                + (f"; still refused: {again}" if again else "")
                + (f"; {self.truncated} truncated, kept as they are" if self.truncated else ""))


def replay(deadletters: DeadLetters, cause: str, registry: Mapping[str, Registered],
           store: Store, prefix: str = "heat", max_bytes: int = 256 * 1024,
           batch: int = 1000) -> ReplayResult:
    """Parse each dead letter of `cause` again with today's records and code, and store it.

    Its readings are written first; then, in one transaction, the dead letter is removed and
    whatever is refused now (by the parser or the store) is kept as a new dead letter with
    the same topic, payload and receive time. A crash in between only stores a reading twice,
    which overwrites itself. StoreUnavailable stops the replay; what was done stays done.
    """
    result = ReplayResult()
    after = 0
    while letters := deadletters.oldest(cause, after, batch):
        after = letters[-1].id
        readings: list[Reading] = []
        origin: list[tuple[int, int]] = []  # (letter index, element index) of each reading
        refused: list[tuple[Rejection, int]] = []
        done: list[int] = []
        for k, d in enumerate(letters):
            result.letters += 1
            if d.truncated:
                result.truncated += 1
                continue
            good, indexes, bad = parse_indexed(d.topic, d.payload, registry, prefix, max_bytes)
            readings.extend(good)
            origin.extend((k, i) for i in indexes)
            refused.extend((r, d.received_ms) for r in bad)
            done.append(d.id)
        store_refused = split_write(store.write, readings)
        for i, detail in store_refused:
            k, element = origin[i]
            d = letters[k]
            refused.append((Rejection("store_rejected", detail, d.topic,
                                      element_of(d.topic, d.payload, element)), d.received_ms))
        result.stored += len(readings) - len(store_refused)
        for r, _ in refused:
            result.refused[r.cause] += 1
        deadletters.settle(done, refused)
        result.replayed += len(done)
    return result
