#!/usr/bin/env python3
"""The pycrdt (Yjs) side of `ledgerlink-bench peer`: the same signed entries as a Y.Array.

Reads one hex-encoded entry per line (the bench writes them), appends each in its own
transaction (how a live app would), then reports as JSON: bytes of the full update, bytes of
a one-entry delta computed from a state vector, bytes of the state vector, and the time to
apply the full update to an empty document.
"""
import json
import sys
import time

from pycrdt import Array, Doc


def main(path: str) -> None:
    with open(path) as f:
        entries = [bytes.fromhex(line) for line in f.read().split()]
    doc = Doc()
    ledger = doc.get("ledger", type=Array)
    started = time.perf_counter()
    for entry in entries[:-1]:
        with doc.transaction():
            ledger.append(entry)
    build = time.perf_counter() - started
    state = doc.get_state()
    with doc.transaction():
        ledger.append(entries[-1])
    delta = doc.get_update(state)
    full = doc.get_update()

    started = time.perf_counter()
    replica = Doc()
    replica.apply_update(full)
    count = len(replica.get("ledger", type=Array))
    apply = time.perf_counter() - started
    assert count == len(entries), (count, len(entries))
    print(json.dumps({
        "entries": len(entries),
        "entry_bytes": sum(len(e) for e in entries),
        "full_update_bytes": len(full),
        "one_entry_delta_bytes": len(delta),
        "state_vector_bytes": len(state),
        "build_seconds": build,
        "apply_seconds": apply,
    }))


if __name__ == "__main__":
    main(sys.argv[1])
