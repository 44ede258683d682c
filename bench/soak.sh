#!/usr/bin/env bash
# Fault-injection soak (not in CI; the suite runs a 20-second variant, tests/P2PNet.Core.Tests/Soak).
# A dozen nodes — 8 hosts in one process and 4 `p2pnet node` processes — exchange SHA-256-checked echo messages while
# hosts are restarted, processes SIGKILLed and SIGSTOPped, nodes flooded with garbage and held by peers that never read.
# Prints a Markdown table: connections held, faults injected, messages sent, lost (must be 0), peak memory per node,
# time to recover. Exit 0 only when nothing was lost or corrupted and every node recovered.
# Usage: bench/soak.sh [minutes] (default 5) [more P2PNet.Soak arguments, e.g. --seed 42]
set -euo pipefail
MINUTES=${1:-5}; shift || true
ROOT=$(cd "$(dirname "$0")/.." && pwd)
dotnet build "$ROOT/bench/P2PNet.Soak" -c Release -nologo -v quiet >/dev/null
exec dotnet "$ROOT/bench/P2PNet.Soak/bin/Release/net10.0/P2PNet.Soak.dll" --minutes "$MINUTES" "$@"
