#!/usr/bin/env bash
# Runs every test (`swift test`; arguments are passed on, e.g. `--filter Store`) with at most
# four tests per core at once.
#
# Why a bound: Swift Testing starts every test at once by default, and all of them share the
# cooperative pool, one thread per core. On two cores the run's ~400 tests queued each step of
# the in-process servers and sessions behind seconds of other tests' SQLite and signature work:
# a job waited up to 21 s for a thread, pairing and peer handshakes missed their deadlines, and
# full runs failed now and then in whichever networked test was slowest (docs/TESTING.md).
# With the bound no job waited more than a few seconds, and the run is no slower.
set -euo pipefail
cd "$(dirname "$0")/.."
cores=$(nproc 2>/dev/null || echo 2)
# The environment switch is Swift Testing's own (experimental in Swift 6.3); a value set
# by the caller wins.
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-$((cores * 4))}"
exec swift test "$@"
