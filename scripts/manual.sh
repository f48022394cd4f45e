#!/usr/bin/env bash
# Makes Resources/ledgerlink.1 anew from the command definitions (swift-argument-parser's
# manual generator), after a command or an option changed. `swift test` checks that every
# command is in it.
set -euo pipefail
cd "$(dirname "$0")/.."
swift package generate-manual >/dev/null
cp .build/plugins/GenerateManual/outputs/ledgerlink/ledgerlink.1 Resources/ledgerlink.1
echo "manual: Resources/ledgerlink.1 written" >&2
