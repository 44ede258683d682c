#!/usr/bin/env bash
# The user-space TCP/IP stack (issue 17) against the kernel, beside kernel-to-kernel over a veth pair, in one run:
# single-flow throughput both ways, the same under 1% loss, connections per second, memory per idle connection and
# CPU per GB. Needs root, iproute2, nftables, ethtool, Debian's python3. Usage: bench/netstack.sh [bytes per transfer]
# (default 1 GiB; a quarter of it under loss).
#
# Loss is the same process on both paths: every MTU-sized packet on a veth wire is dropped with 1% probability in each
# direction (nftables numgen on the netdev ingress hook of both ends; this kernel has no sch_netem), with TSO and GRO
# off on those veths so the wire carries MTU-sized packets while each sender keeps its own offloads (the kernel its
# GSO, the stack its TSO into the TUN). The stack's loss path is kernel peer K -> veth -> router namespace S -> TUN ->
# stack; the kernel's is A -> veth -> B.
set -euo pipefail
BYTES=${1:-1073741824}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DLL=${P2PNET_DLL:-$ROOT/samples/P2PNet.Cli/bin/Release/net10.0/p2pnet.dll}
PY=/usr/bin/python3; TOOL="$ROOT/bench/netstack-tool.py"
[ -f "$DLL" ] || dotnet build "$ROOT/samples/P2PNet.Cli" -c Release >/dev/null
[ "$(id -u)" = 0 ] || { echo "bench/netstack.sh needs root (network namespaces, TUN devices)" >&2; exit 1; }
ID=$(printf '%04x' $((RANDOM)))
S=netstack-b$ID-s; A=netstack-b$ID-a; B=netstack-b$ID-b; K=netstack-b$ID-k; TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in "$S" "$A" "$B" "$K"; do ip netns del "$n" 2>/dev/null || true; done; rm -rf "$TMP"
}
trap cleanup EXIT
command -v ethtool >/dev/null || { echo "bench/netstack.sh needs ethtool (apt-get install ethtool)" >&2; exit 1; }
for n in "$S" "$A" "$B" "$K"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip link add nb${ID}a netns "$A" type veth peer name nb${ID}b netns "$B"
ip -n "$A" addr add 10.78.0.1/24 dev nb${ID}a; ip -n "$B" addr add 10.78.0.2/24 dev nb${ID}b
ip -n "$A" link set nb${ID}a up; ip -n "$B" link set nb${ID}b up
# The kernel peer for the loss rows, one hop from the stack: K (10.79.0.2) -> S (10.79.0.1, forwarding) -> TUN -> stack.
ip link add nb${ID}k netns "$K" type veth peer name nb${ID}s netns "$S"
ip -n "$K" addr add 10.79.0.2/24 dev nb${ID}k; ip -n "$S" addr add 10.79.0.1/24 dev nb${ID}s
ip -n "$K" link set nb${ID}k up; ip -n "$S" link set nb${ID}s up
ip -n "$K" route add 10.77.0.0/24 via 10.79.0.1; ip netns exec "$S" sysctl -qw net.ipv4.ip_forward=1

ip netns exec "$S" dotnet "$DLL" netstack serve --tun nsb0 --kernel-address 10.77.0.1/24 --address 10.77.0.2 \
  --discard 9 --http 80 > "$TMP/serve.out" 2>"$TMP/serve.err" & PIDS+=($!); SERVE=$!
for _ in $(seq 200); do grep -q "NETSTACK UP" "$TMP/serve.out" && break; sleep 0.1; done
grep -q "NETSTACK UP" "$TMP/serve.out" || { cat "$TMP/serve.err" >&2; exit 1; }

cpu() { awk '{print $14 + $15}' "/proc/$SERVE/stat"; }     # utime + stime, clock ticks
rss() { awk '/VmRSS/ {print $2}' "/proc/$SERVE/status"; }  # KiB
TCK=$(getconf CLK_TCK)

kk_send() {  # kernel -> kernel over the veth: prints Gbit/s
  ip netns exec "$B" $PY "$TOOL" sink 5001 > "$TMP/sink.out" & local p=$!
  for _ in $(seq 50); do grep -q READY "$TMP/sink.out" 2>/dev/null && break; sleep 0.1; done
  ip netns exec "$A" env NETSTACK_CC="${CC:-}" $PY "$TOOL" send 10.78.0.2 5001 "$BYTES" | awk '{print $2}'; wait $p
}
ks_send() { ip netns exec "$S" $PY "$TOOL" send 10.77.0.2 9 "$BYTES" | awk '{print $2}'; }
sk_recv() { ip netns exec "$S" $PY "$TOOL" recv 10.77.0.2 80 "/bytes/$BYTES" | awk '{print $3}'; }

loss() {  # $1 namespace, $2 device, $3 percent: drop that share of the TCP packets arriving on the device (on the wire)
  ip netns exec "$1" ethtool -K "$2" tso off gro off >/dev/null   # MTU-sized packets on the wire; GSO stays on
  ip netns exec "$1" nft -f - <<NFT
table netdev nsloss {
  chain in {
    type filter hook ingress device "$2" priority 0;
    meta l4proto tcp numgen random mod 100 < $3 drop
  }
}
NFT
}
inns() { local n=$1; shift; ip netns exec "$n" "$@"; }

# Warm up (JIT, pools) with a short transfer each way before anything is measured.
ip netns exec "$S" $PY "$TOOL" send 10.77.0.2 9 67108864 >/dev/null
ip netns exec "$S" $PY "$TOOL" recv 10.77.0.2 80 /bytes/67108864 >/dev/null
DEFAULT_CC=$(ip netns exec "$A" sysctl -n net.ipv4.tcp_congestion_control)
CCS=cubic; [ "$DEFAULT_CC" = cubic ] || CCS="cubic $DEFAULT_CC"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); the kernel's default congestion control: $DEFAULT_CC"
C0=$(cpu); KS=$(ks_send); C1=$(cpu); SK=$(sk_recv); C2=$(cpu); KK=$(kk_send)
CPU_IN=$(awk -v a="$C0" -v b="$C1" -v t="$TCK" -v n="$BYTES" 'BEGIN {printf "%.2f", (b-a)/t / (n/1e9)}')
CPU_OUT=$(awk -v a="$C1" -v b="$C2" -v t="$TCK" -v n="$BYTES" 'BEGIN {printf "%.2f", (b-a)/t / (n/1e9)}')
LOSS_BYTES=$((BYTES / 4))
loss "$K" nb${ID}k 1; loss "$S" nb${ID}s 1; loss "$A" nb${ID}a 1; loss "$B" nb${ID}b 1
BYTES_SAVED=$BYTES; BYTES=$LOSS_BYTES
# Under loss the sender's congestion control decides the figure, so the kernel's rows are run with CUBIC (the stack's
# default, RFC 9438) and with the kernel's own default when that is something else (BBR here: it does not back off on
# random loss). The stack -> kernel row depends only on the stack's controller (the kernel receives).
declare -A KSL KKL
for CC in $CCS; do
  KSL[$CC]=$(ip netns exec "$K" env NETSTACK_CC="$CC" $PY "$TOOL" send 10.77.0.2 9 "$BYTES" | awk '{print $2}')
  KKL[$CC]=$(kk_send)
done
SKL=$(ip netns exec "$K" $PY "$TOOL" recv 10.77.0.2 80 "/bytes/$BYTES" | awk '{print $3}')
CC=; BYTES=$BYTES_SAVED
for n in "$A" "$B"; do ip netns exec "$n" nft delete table netdev nsloss; done
for n in "$A" "$B"; do ip netns exec "$n" ethtool -K "nb${ID}${n: -1}" tso on gro on >/dev/null 2>&1 || true; done
CPS=$(ip netns exec "$S" $PY "$TOOL" cps 10.77.0.2 9 5)
CPSK=$( (ip netns exec "$B" $PY -c "
import socket
l=socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); l.bind(('0.0.0.0', 5002)); l.listen(4096)
while True:
    c,_=l.accept(); c.close()" & echo $! > "$TMP/kl.pid"; sleep 0.5; ip netns exec "$A" $PY "$TOOL" cps 10.78.0.2 5002 5; kill "$(cat "$TMP/kl.pid")") )
HARD=$(ulimit -Hn); [ "$HARD" = unlimited ] && HARD=65536
IDLE=$(( HARD - 100 < 5000 ? HARD - 100 : 5000 ))
M0=$(rss)
coproc HOLD { ip netns exec "$S" bash -c "ulimit -n $HARD; exec $PY $TOOL hold 10.77.0.2 9 $IDLE"; }
READY=; read -r READY <&"${HOLD[0]}" || true
[ "$READY" = READY ] || { echo "could not open $IDLE idle connections" >&2; IDLE=0; }
sleep 1; M1=$(rss)
eval "exec ${HOLD[1]}>&-"; wait "$HOLD_PID" 2>/dev/null || true
PER_IDLE=$(awk -v a="$M0" -v b="$M1" -v n="$IDLE" 'BEGIN {if (n > 0) printf "%.1f", (b-a)/n; else printf "n/a"}')
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| figure (transfer $BYTES bytes; $LOSS_BYTES under loss) | user-space stack over TUN | kernel → kernel over veth |"
echo "|---|---|---|"
echo "| single flow kernel → stack (kernel sender $DEFAULT_CC), Gbit/s | $KS | $KK |"
echo "| single flow stack → kernel, Gbit/s | $SK | $KK |"
for CC in $CCS; do
  echo "| 1% loss on the wire both ways, kernel → stack (kernel sender $CC), Gbit/s | ${KSL[$CC]} | ${KKL[$CC]} ($CC) |"
done
KKL_ALL=$(for CC in $CCS; do printf '%s (%s) / ' "${KKL[$CC]}" "$CC"; done); KKL_ALL=${KKL_ALL% / }
echo "| 1% loss on the wire both ways, stack → kernel (stack CUBIC), Gbit/s | $SKL | $KKL_ALL |"
echo "| connections per second (connect + RST close, one client) | $CPS | $CPSK |"
echo "| memory per idle connection (RSS delta / $IDLE), KiB | $PER_IDLE | – |"
echo "| stack CPU per GB received / sent, CPU-seconds | $CPU_IN / $CPU_OUT | – |"
