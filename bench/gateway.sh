#!/usr/bin/env bash
# Figures for the outbound gateway (issue #19), all in one run on this machine. Network namespaces on two switches: a
# "LAN" (192.0.2.0/24) carrying the libp2p connections and an "Internet" (203.0.113.0/24):
#   req  — the VPN member: `p2pnet vpn up --coordinator --gateway 10.90.0.7` with a kernel TUN (10.90.0.12), which invites
#          the gateway node on its stdin; a route sends only 203.0.113.10/32 into the VPN. It also has a direct link to
#          the Internet switch (203.0.113.20).
#   gw   — `p2pnet gateway serve` (10.90.0.7 in the VPN), with its own link to the Internet switch (203.0.113.1).
#   inet — the server: iperf3 and a small python TCP service, on 203.0.113.10 (reached through the gateway) and
#          203.0.113.11 (reached directly, over req's own link).
# For each egress mode (kernel: a TUN, forwarding and nftables masquerade; rootless: flows terminated in user space and
# re-originated with ordinary sockets), with a fresh coordinator and gateway per mode, and for the direct path, prints
# side by side:
#   - TCP throughput (iperf3, SECS seconds each way: member → server and server → member);
#   - new connections per second (WORKERS python threads, each: connect, send a line, read the reply to the server's
#     close; for CONN_SECS seconds) and the mean time per connection.
# A mode that does not come up is shown as "n/a (<reason>)".
# Needs root, iproute2, nftables, iperf3, python3.   bench/gateway.sh [SECS, default 5]
# WORKERS (default 4), CONN_SECS (default 5), MODES (default "kernel rootless"). About a minute with the defaults (the CLI already built).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
WORKERS=${WORKERS:-4}
CONN_SECS=${CONN_SECS:-5}
MODES=${MODES:-kernel rootless}
[ "$(id -u)" = 0 ] || { echo "bench/gateway.sh needs root (network namespaces, TUN devices, nftables)" >&2; exit 1; }
for tool in ip nft iperf3 python3; do command -v $tool >/dev/null || { echo "bench/gateway.sh needs $tool" >&2; exit 1; }; done
DLL=${P2PNET_DLL:-$PWD/samples/P2PNet.Cli/bin/Release/net10.0/p2pnet.dll}
[ -n "${P2PNET_DLL:-}" ] || dotnet build samples/P2PNet.Cli -c Release -v q -nologo >/dev/null
CLI=(dotnet "$DLL")
P=p2gw$(printf '%04x' $((RANDOM)))
REQ=192.0.2.10; GW=192.0.2.20; REQVPN=10.90.0.12; GWVPN=10.90.0.7
VIA=203.0.113.10; DIRECT=203.0.113.11; GWNET=203.0.113.1; REQNET=203.0.113.20
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in hub req gw inet; do ip netns del "$P-$n" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
start() { # name ns command... (stdout to $tmp/name.out; ip execs the command, so $! is its own pid)
  local name=$1 ns=$2; shift 2
  ip netns exec "$P-$ns" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!); echo $! >"$tmp/$name.pid"
}
stop() { # name: SIGTERM (the VPN removes its device, the gateway its TUN and nft table) and wait for the exit
  local pid; pid=$(cat "$tmp/$1.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
# name pattern [seconds]: 0 once the line is there; 1 if the process exited or the time ran out (the reason in $why).
wait_line() {
  local name=$1 pattern=$2 pid; pid=$(cat "$tmp/$name.pid")
  for _ in $(seq $((${3:-60} * 20))); do
    grep -q "$pattern" "$tmp/$name.out" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      why=$(grep -v '^\s*$' "$tmp/$name.err" | grep -m1 -i 'error\|exception\|not available' || tail -n1 "$tmp/$name.err")
      why=${why:-"$name exited"}; return 1
    fi
    sleep 0.05
  done
  why="timed out waiting for '$pattern' from $name"; return 1
}

# ---------------------------------------------------------------- topology
for n in hub req gw inet; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
for br in lan wan; do ip -n "$P-hub" link add $br type bridge; ip -n "$P-hub" link set $br up; done
i=0
plug() { # ns bridge address/prefix ifname
  i=$((i + 1))
  ip link add "$4" netns "$P-$1" type veth peer name v$i netns "$P-hub"
  ip -n "$P-hub" link set v$i master "$2" up
  ip -n "$P-$1" addr add "$3" dev "$4"; ip -n "$P-$1" link set "$4" up
}
plug req lan $REQ/24 eth0
plug req wan $REQNET/24 eth1
plug gw lan $GW/24 eth0
plug gw wan $GWNET/24 eth1
plug inet wan $VIA/24 eth0
ip -n "$P-inet" addr add $DIRECT/24 dev eth0
# The masqueraded (kernel) and re-originated (rootless) flows come from 203.0.113.1, on inet's own switch: no route needed.

# Services on the server: iperf3 (one test at a time) and port 81, which reads a line, replies and closes.
cat >"$tmp/server.py" <<'PY'
import resource, socketserver
resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
class Reply(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(4096)
        self.request.sendall(b"ok\n")
class Tcp(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024
server = Tcp(("0.0.0.0", 81), Reply)
print("READY", flush=True)
server.serve_forever()
PY
start server inet python3 -u "$tmp/server.py"
start iperf inet iperf3 -s -p 5201
wait_line server READY 30 || { echo "the server did not start: $why" >&2; exit 1; }

cat >"$tmp/connect.py" <<'PY'
import socket, sys, threading, time
host, port, secs, workers = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
done, failed = [0] * workers, [0] * workers
end = time.monotonic() + secs
def run(i):
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=10) as s:
                s.sendall(b"hello\n")
                while s.recv(4096):
                    pass
            done[i] += 1
        except OSError:
            failed[i] += 1
threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
t0 = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.monotonic() - t0
print(sum(done) / elapsed, sum(failed), elapsed * workers / max(1, sum(done)) * 1000)
PY
iperf() { # host [-R] -> Gbit/s received
  for _ in 1 2 3; do # the server takes one test at a time: retry if it is still finishing the last one
    if out=$(ip netns exec "$P-req" timeout $((SECS + 30)) iperf3 -c "$1" -p 5201 -t "$SECS" -J "${@:2}" 2>/dev/null); then
      echo "$out" | python3 -c 'import json,sys;print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)'; return
    fi
    sleep 1
  done
  echo nan
}
measure() { # column host: fills $tmp/column (up down cps failed ms)
  local up down cps fail ms
  up=$(iperf "$2"); down=$(iperf "$2" -R)
  read -r cps fail ms < <(ip netns exec "$P-req" python3 "$tmp/connect.py" "$2" 81 "$CONN_SECS" "$WORKERS" || echo "nan 0 nan")
  echo "$up $down $cps $fail $ms" >"$tmp/$1.figures"
}

REQID=$("${CLI[@]}" key new --out "$tmp/req.key"); GWID=$("${CLI[@]}" key new --out "$tmp/gw.key")

# ---------------------------------------------------------------- direct: req → 203.0.113.11 over its own link
measure direct $DIRECT

# ---------------------------------------------------------------- through the gateway, per egress mode
mode_run() { # mode: 0 with $tmp/mode.figures written, 1 with the reason in $why
  local mode=$1 flag=()
  [ "$mode" = rootless ] && flag=(--rootless)
  rm -f "$tmp/coord.in"; mkfifo "$tmp/coord.in"
  exec {coord_in}<>"$tmp/coord.in" # held open (read-write: no blocking) so the coordinator's stdin stays open
  ip netns exec "$P-req" "${CLI[@]}" vpn up --coordinator --cidr 10.90.0.0/24 --ip $REQVPN --gateway $GWVPN --key "$tmp/req.key" \
    --listen /ip4/$REQ/tcp/4004 --tun p2vpn0 --peer "$GWID=/ip4/$GW/tcp/4003" <"$tmp/coord.in" >"$tmp/coord-$mode.out" 2>"$tmp/coord-$mode.err" &
  pids+=($!); echo $! >"$tmp/coord-$mode.pid"
  wait_line coord-$mode "VPN UP" 60 || { why="coordinator: $why"; return 1; }
  start gw-$mode gw "${CLI[@]}" gateway serve --key "$tmp/gw.key" --listen /ip4/$GW/tcp/4003 --allow-requestor "$REQID" "${flag[@]}"
  wait_line gw-$mode "GATEWAY UP" 60 || { why="gateway: $why"; return 1; }
  echo "invite $GWID=$GWVPN" >&"$coord_in"
  if ! wait_line coord-$mode "JOINED $GWID" 60; then
    local said; said=$(grep -m1 "did not join" "$tmp/coord-$mode.err" | sed 's/^.*did not join: //; s/^[^ ]* declined the invitation: /declined: /' || true)
    why="the gateway did not join: ${said:-$why}"; return 1
  fi
  ip -n "$P-req" route add $VIA/32 dev p2vpn0
  ip netns exec "$P-req" ping -c 3 -i 0.2 -W 2 $VIA >/dev/null 2>&1 || true # warm the path (ICMP may not be forwarded)
  if ! ip netns exec "$P-req" timeout 15 python3 -c "import socket; socket.create_connection(('$VIA', 81), timeout=10).close()" 2>/dev/null; then
    why="no TCP connection to $VIA:81 through the gateway"; return 1
  fi
  measure "$mode" $VIA
}
for mode in $MODES; do
  why=""
  if ! mode_run "$mode"; then
    echo "$mode: $why" >&2
    echo "$why" | tr -s '\n\t|' '   ' | cut -c1-120 >"$tmp/$mode.why"
  fi
  [ -f "$tmp/gw-$mode.pid" ] && stop gw-$mode
  [ -f "$tmp/coord-$mode.pid" ] && stop coord-$mode
  exec {coord_in}>&-
done

python3 - "$tmp" "$SECS" "$WORKERS" "$CONN_SECS" $MODES <<'PY'
import math, os, sys
tmp, secs, workers, conn_secs, modes = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5:]
def load(name):
    path = os.path.join(tmp, name + ".figures")
    if not os.path.exists(path):
        why = open(os.path.join(tmp, name + ".why")).read().strip() if os.path.exists(os.path.join(tmp, name + ".why")) else "did not run"
        return None, why
    up, down, cps, fail, ms = open(path).read().split()
    return (float(up), float(down), float(cps), int(fail), float(ms)), None
columns = [(f"through the gateway, {m} egress", *load(m)) for m in modes] + [("directly (req → 203.0.113.11)", *load("direct"))]
direct = columns[-1][1]
def cell(figures, why, i, fmt):
    if figures is None:
        return f"n/a ({why})" if i == 0 else "n/a"
    v = figures[i]
    return "-" if isinstance(v, float) and math.isnan(v) else fmt(v)
def ratio(figures, i):
    if figures is None or direct is None or not direct[i] or math.isnan(figures[i]) or math.isnan(direct[i]):
        return ""
    return f" ({figures[i] / direct[i] * 100:.0f} %)"
rows = [
    (f"TCP throughput, member → server (iperf3, {secs:.0f} s)", 0, lambda v: f"{v:.2f} Gbit/s"),
    (f"TCP throughput, server → member (iperf3 -R, {secs:.0f} s)", 1, lambda v: f"{v:.2f} Gbit/s"),
    (f"new connections per second ({workers} clients, {conn_secs:.0f} s; connect, request, reply, close)", 2, lambda v: f"{v:.0f} /s"),
    ("time per connection (mean)", 4, lambda v: f"{v:.2f} ms"),
]
print("| member → server | " + " | ".join(c[0] for c in columns) + " |")
print("|---|" + "---:|" * len(columns))
for label, i, fmt in rows:
    cells = [cell(f, w, i, fmt) + (ratio(f, i) if n != len(columns) and i != 4 else "") for n, (_, f, w) in enumerate(columns, 1)]
    print(f"| {label} | " + " | ".join(cells) + " |")
if any(f is not None and f[3] for _, f, _ in columns):
    print("| failed connections | " + " | ".join(str(f[3]) if f is not None else "" for _, f, _ in columns) + " |")
print()
print("Percentages: through the gateway / directly.")
PY
