#!/usr/bin/env bash
# TCP throughput and ping RTT between two network namespaces: raw veth path vs. the P2PNet VPN over the same veth.
# Needs root, iproute2 and iperf3. Prints two Markdown tables: throughput with ping RTT at 10 ms intervals, then latency at
# human rates (10, 100 and 500 ms between pings, VPN and raw veth, after a warm-up) with the first echo after a join.
# Usage: bench/vpn.sh [seconds] (default 10, iperf3's own default: long enough for the inner TCP and the Yamux window to ramp
# up). LAT_COUNT (default 60) sets the pings per rate; LAT_COUNT=0 skips the latency table (about 75 s at 60). VPN_FLAGS
# adds flags to both nodes' `p2pnet vpn up` (e.g. VPN_FLAGS=--no-low-latency).
set -euo pipefail
SECS=${1:-10}
LAT_COUNT=${LAT_COUNT:-60}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The p2pnet tool published ReadyToRun (or P2PNET_DLL): sets DLL.
source "$ROOT/bench/cli-r2r.sh"
[ "$(id -u)" = 0 ] || { echo "bench/vpn.sh needs root (network namespaces, TUN devices)" >&2; exit 1; }
ID=$(printf '%04x' $((RANDOM)))
A=p2vb$ID-a; B=p2vb$ID-b; TMP=$(mktemp -d); touch "$TMP/a.out" "$TMP/b.out"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add "$A"; ip netns add "$B"
ip link add vb${ID}a netns "$A" type veth peer name vb${ID}b netns "$B"
ip -n "$A" addr add 192.168.77.1/24 dev vb${ID}a; ip -n "$B" addr add 192.168.77.2/24 dev vb${ID}b
for n in "$A" "$B"; do ip -n "$n" link set lo up; done
ip -n "$A" link set vb${ID}a up; ip -n "$B" link set vb${ID}b up

dotnet "$DLL" key new --out "$TMP/a.key" >/dev/null; dotnet "$DLL" key new --out "$TMP/b.key" >/dev/null
AID=$(dotnet "$DLL" id --key "$TMP/a.key"); BID=$(dotnet "$DLL" id --key "$TMP/b.key")
ip netns exec "$A" dotnet "$DLL" vpn up --key "$TMP/a.key" --listen /ip4/192.168.77.1/tcp/4001 --cidr 10.77.0.0/24 --ip 10.77.0.1 \
  --coordinator --allow "$BID=10.77.0.2" --tun p2vpn0 ${VPN_FLAGS:-} > "$TMP/a.out" 2>"$TMP/a.err" & PIDS+=($!)
for _ in $(seq 100); do grep -q "VPN UP" "$TMP/a.out" && break; sleep 0.1; done
ip netns exec "$B" dotnet "$DLL" vpn up --key "$TMP/b.key" --listen /ip4/192.168.77.2/tcp/4001 \
  --join "/ip4/192.168.77.1/tcp/4001/p2p/$AID" --tun p2vpn0 ${VPN_FLAGS:-} > "$TMP/b.out" 2>"$TMP/b.err" & PIDS+=($!)
for _ in $(seq 1000); do grep -q "VPN UP" "$TMP/b.out" && break; sleep 0.01; done
grep -q "VPN UP" "$TMP/b.out" || { cat "$TMP"/*.err >&2; echo "VPN did not come up" >&2; exit 1; }
# First packet after the join: single echoes (1 s timeout each) from the moment the member says VPN UP until one is
# answered; its RTT, and the time from VPN UP to that reply (which includes any echo lost before the link was up).
T0=$(date +%s%N); FIRST=""
for _ in $(seq 10); do
  FIRST=$(ip netns exec "$B" ping -c 1 -W 1 10.77.0.1 | sed -n 's/.*time=\([0-9.]*\).*/\1/p') && [ -n "$FIRST" ] && break
done
FIRST_WAIT=$(( ($(date +%s%N) - T0) / 1000 ))
ip netns exec "$B" ping -c 3 -i 0.2 -W 2 10.77.0.1 >/dev/null   # warm the data stream

ip netns exec "$A" iperf3 -s -D -1 -p 5201 >/dev/null; sleep 0.3
RAW=$(ip netns exec "$B" iperf3 -c 192.168.77.1 -p 5201 -t "$SECS" -J | python3 -c 'import json,sys;print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)')
ip netns exec "$A" iperf3 -s -D -1 -p 5202 >/dev/null; sleep 0.3
VPN=$(ip netns exec "$B" iperf3 -c 10.77.0.1 -p 5202 -t "$SECS" -J | python3 -c 'import json,sys;print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)')

rtts() { ip netns exec "$B" ping -c 200 -i 0.01 -q "$1" >/dev/null; ip netns exec "$B" ping -c 200 -i 0.01 "$1" | sed -n 's/.*time=\([0-9.]*\).*/\1/p' | sort -n; }
pct() { python3 -c "import sys;v=[float(x) for x in sys.stdin.read().split()];print(v[min(len(v)-1,int(len(v)*$1))])"; }
RAWR=$(rtts 192.168.77.1); VPNR=$(rtts 10.77.0.1)
RP50=$(echo "$RAWR" | pct 0.50); RP99=$(echo "$RAWR" | pct 0.99); VP50=$(echo "$VPNR" | pct 0.50); VP99=$(echo "$VPNR" | pct 0.99)
# Latency at human rates: per interval, a warm-up (the path's first packets, not what a session feels) then LAT_COUNT
# pings, raw veth and VPN alternately so both see the same machine.
LATROWS=()
if [ "$LAT_COUNT" -gt 0 ]; then
  ip netns exec "$B" ping -c 300 -i 0.002 -q 10.77.0.1 >/dev/null; ip netns exec "$B" ping -c 300 -i 0.002 -q 192.168.77.1 >/dev/null
  series() { ip netns exec "$B" ping -c "$LAT_COUNT" -i "$2" "$1" | sed -n 's/.*time=\([0-9.]*\).*/\1/p' | sort -n; }
  for IV in 0.01 0.1 0.5; do
    R=$(series 192.168.77.1 "$IV"); V=$(series 10.77.0.1 "$IV")
    LATROWS+=("$IV $(echo "$V" | pct 0.50) $(echo "$V" | pct 0.90) $(echo "$R" | pct 0.50)")
  done
fi
if [ -n "${VPN_STATS:-}" ]; then for p in "${PIDS[@]}"; do kill -TERM "$p"; done; wait; grep -h "VPN STATS" "$TMP"/*.err >&2; PIDS=(); fi
python3 - "$RAW" "$VPN" "$RP50" "$RP99" "$VP50" "$VP99" "$SECS" <<'PY'
import sys
raw, vpn, rp50, rp99, vp50, vp99, secs = map(float, sys.argv[1:])
print(f"| path | TCP throughput (iperf3, {secs:.0f} s) | ping RTT p50 | ping RTT p99 |")
print("|---|---|---|---|")
print(f"| raw veth | {raw:.2f} Gbit/s | {rp50:.3f} ms | {rp99:.3f} ms |")
print(f"| P2PNet VPN (TUN, MTU 1420) | {vpn:.2f} Gbit/s ({vpn/raw*100:.1f} % of raw) | {vp50:.3f} ms | {vp99:.3f} ms |")
print(f"| added by the VPN | | +{vp50-rp50:.3f} ms | +{vp99-rp99:.3f} ms |")
PY
if [ "$LAT_COUNT" -gt 0 ]; then
  python3 - "$LAT_COUNT" "${FIRST:-nan}" "$FIRST_WAIT" "${LATROWS[@]}" <<'PY'
import sys
count, first, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]) / 1000
print()
print(f"| ping interval ({count} pings, after warm-up) | VPN p50 | VPN p90 | raw veth p50 | added p50 (VPN - raw) |")
print("|---|---:|---:|---:|---:|")
for row in sys.argv[4:]:
    iv, vp50, vp90, rp50 = map(float, row.split())
    print(f"| {iv*1000:.0f} ms | {vp50:.3f} ms | {vp90:.3f} ms | {rp50:.3f} ms | +{vp50-rp50:.3f} ms |")
print(f"| first echo after the member's VPN UP | {first} ms RTT | | | answered {wait:.1f} ms after VPN UP |")
PY
fi
