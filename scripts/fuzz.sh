#!/usr/bin/env bash
# Fuzzes ledgerlink's decoders with libFuzzer (docs/FUZZING.md).
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]     default: 600 s for every target, one after another
# Inputs the fuzzer finds interesting go to .build-fuzz/corpus/TARGET (kept between runs);
# a crashing input goes to .build-fuzz/crashes/. Copy a crash into
# Tests/LedgerFuzzTests/Corpus/TARGET/ once it is fixed: `swift test` replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-600}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=(entry public-body private-body clock segment export store-wire pairing-code pairing-messages
        peer-message announcement recovery-words csv-statement forwarded-for entry-runs stored-run)
fi

scratch=.build-fuzz
# The ordinary build writes the seeds (valid inputs) the fuzzer starts from.
swift build --product ledgerlink-fuzz >/dev/null
.build/debug/ledgerlink-fuzz seeds "$scratch/corpus"
# The instrumented build: coverage for libFuzzer, AddressSanitizer for memory errors.
swift build --scratch-path "$scratch/fuzz" --product ledgerlink-fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DLEDGERLINK_FUZZ >/dev/null
fuzzer="$scratch/fuzz/debug/ledgerlink-fuzz"
mkdir -p "$scratch/crashes"

status=0
for target in "${targets[@]}"; do
    mkdir -p "$scratch/corpus/$target" Tests/LedgerFuzzTests/Corpus/"$target"  # git keeps no empty folder
    log="$scratch/$target.log"
    echo "fuzz: $target for $seconds s" >&2
    # Swift's backtracer would hold a crashing process for a minute; libFuzzer reports itself.
    if SWIFT_BACKTRACE=enable=no LEDGERLINK_FUZZ_TARGET="$target" "$fuzzer" \
        -max_total_time="$seconds" -max_len=140000 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$scratch/crashes/$target-" \
        "$scratch/corpus/$target" Tests/LedgerFuzzTests/Corpus/"$target" >"$log" 2>&1; then
        runs=$(grep -oE '#[0-9]+' "$log" | tail -n 1 | tr -d '#')
        echo "fuzz: $target: no crash in ${runs:-?} runs" >&2
    else
        echo "fuzz: $target: CRASH, see $log and $scratch/crashes/" >&2
        status=1
    fi
done
exit "$status"
