#!/usr/bin/env bash
# The p2pnet stream ping on loopback at human rates: a `p2pnet node` and `p2pnet ping --interval` (one connection, one
# /ipfs/ping/1.0.0 stream) with 10, 100 and 500 ms between pings, default host settings, ReadyToRun-published as
# bench/vpn.sh runs its nodes. The first WARM pings of each run (connection set-up, first calls) are dropped. Prints a
# Markdown table of p50 and p90 per rate: a connection that sleeps between messages should not answer slower.
# Usage: bench/ping-rates.sh [pings per rate, default 60] (about 45 s at 60). P2PNET_DLL runs another build.
set -euo pipefail
N=${1:-60}
WARM=${WARM:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The p2pnet tool published ReadyToRun (or P2PNET_DLL): sets DLL.
source "$ROOT/bench/cli-r2r.sh"
TMP=$(mktemp -d); NODE=""
cleanup() { if [ -n "$NODE" ]; then kill "$NODE" 2>/dev/null || true; fi; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
dotnet "$DLL" node > "$TMP/node.out" 2>"$TMP/node.err" & NODE=$!
for _ in $(seq 100); do grep -q "^LISTEN " "$TMP/node.out" && break; sleep 0.1; done
ADDR=$(sed -n 's/^LISTEN //p' "$TMP/node.out" | head -1)
[ -n "$ADDR" ] || { cat "$TMP/node.err" >&2; echo "the node did not listen" >&2; exit 1; }
ROWS=()
for IV in 10 100 500; do
  dotnet "$DLL" ping "$ADDR" --json --count $((WARM + N)) --interval "$IV" > "$TMP/ping.out"
  ROWS+=("$IV $(sed -n 's/.*"rtt_ms":\([0-9.]*\).*/\1/p' "$TMP/ping.out" | tail -n +$((WARM + 1)) | tr '\n' ' ')")
done
python3 - "$N" "${ROWS[@]}" <<'PY'
import sys
n = sys.argv[1]
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]
print(f"| ping interval ({n} pings on one stream, loopback) | p50 | p90 |")
print("|---|---:|---:|")
for row in sys.argv[2:]:
    iv, *values = row.split()
    v = [float(x) for x in values]
    print(f"| {iv} ms | {pct(v, 0.5):.3f} ms | {pct(v, 0.9):.3f} ms |")
PY
