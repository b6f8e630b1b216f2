#!/usr/bin/env bash
# The README's Quick start: installs what gwdir needs, builds it, starts the embedded local slapd
# under ./.gwdir (relative to the repository root) and runs the main job against it:
# scripts/scenario.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh runtime
swift build -c release --product gwdir
gwdir="$PWD/.build/release/gwdir"

# Everything else is the scenario (local start, init, a workspace with units, accounts, an
# alias, a unit admin, a find), run against ./.gwdir of the repository root.
GWDIR_BIN="$gwdir" scripts/scenario.sh
echo "== gwdir local status"
"$gwdir" local status
echo
echo "The directory keeps running: $gwdir local stop   (data stays in ./.gwdir)"
