#!/usr/bin/env bash
# Figures for the inbound proxy (issue #18), all in one run on this machine. Network namespaces on one "Internet" switch
# (192.0.2.0/24): svc (a VPN coordinator with a kernel TUN at 10.86.0.2, running iperf3 and two small python TCP
# services there), proxy (`p2pnet proxy inbound`, in the VPN in user space, forwarding its public sockets to svc) and
# client (the public client, which also joins the VPN with a kernel TUN for the direct comparison). Prints, side by side,
# through the proxy and directly over the VPN:
#   - TCP throughput (iperf3, SECS seconds each way: client → service and service → client);
#   - new connections per second (WORKERS python threads, each: connect, send a line, read the reply to the service's
#     close; for CONN_SECS seconds) and the mean time per connection;
# then the resident memory per forwarded connection of a second, fresh proxy: its RSS with COUNT (then 5 x COUNT) idle
# forwarded connections open minus its RSS just before (after a warm-up), divided by the count.
# Needs root, iproute2, iperf3, python3, curl.   bench/inbound-proxy.sh [SECS, default 8] [COUNT, default 200]
# WORKERS (default 4), CONN_SECS (default 5). About 1.5 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-8}
COUNT=${2:-200}
WORKERS=${WORKERS:-4}
CONN_SECS=${CONN_SECS:-5}
[ "$(id -u)" = 0 ] || { echo "bench/inbound-proxy.sh needs root (network namespaces, TUN devices)" >&2; exit 1; }
for tool in ip iperf3 python3 curl; do command -v $tool >/dev/null || { echo "bench/inbound-proxy.sh needs $tool" >&2; exit 1; }; done
DLL=${P2PNET_DLL:-$PWD/samples/P2PNet.Cli/bin/Release/net10.0/p2pnet.dll}
[ -n "${P2PNET_DLL:-}" ] || dotnet build samples/P2PNet.Cli -c Release -v q -nologo >/dev/null
CLI=(dotnet "$DLL")
P=p2ib$(printf '%04x' $((RANDOM)))
SVC=192.0.2.10; PROXY=192.0.2.20; CLIENT=192.0.2.30; SVCVPN=10.86.0.2; API=http://127.0.0.1:7466; MEMAPI=http://127.0.0.1:7467
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in hub svc proxy client; do ip netns del "$P-$n" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
wait_for() { for _ in $(seq 1200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "timed out waiting for '$2' in $1" >&2; cat "$1" "${1%.out}.err" >&2 2>/dev/null; exit 1; }
start() { # name ns command... (stdout to $tmp/name.out; ip execs the command, so $! is its own pid)
  local name=$1 ns=$2; shift 2
  ip netns exec "$P-$ns" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!); echo $! >"$tmp/$name.pid"
}
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
active() { ip netns exec "$P-proxy" curl -sf "$MEMAPI/status-api/v1/metrics" | python3 -c 'import json,sys;print(json.load(sys.stdin)["Connections"]["Active"])'; }

# ---------------------------------------------------------------- topology
for n in hub svc proxy client; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
ip -n "$P-hub" link add br0 type bridge; ip -n "$P-hub" link set br0 up
i=0
for pair in svc:$SVC proxy:$PROXY client:$CLIENT; do
  i=$((i + 1)); n=${pair%%:*}
  ip link add eth0 netns "$P-$n" type veth peer name v$i netns "$P-hub"
  ip -n "$P-hub" link set v$i master br0 up
  ip -n "$P-$n" addr add "${pair#*:}/24" dev eth0; ip -n "$P-$n" link set eth0 up
done

SVCID=$("${CLI[@]}" key new --out "$tmp/svc.key"); PROXYID=$("${CLI[@]}" key new --out "$tmp/proxy.key")
CLIENTID=$("${CLI[@]}" key new --out "$tmp/client.key"); MEMID=$("${CLI[@]}" key new --out "$tmp/mem.key")
start svc svc "${CLI[@]}" vpn up --coordinator --cidr 10.86.0.0/24 --ip $SVCVPN --allow "$PROXYID=10.86.0.3" --allow "$CLIENTID=10.86.0.4" \
  --allow "$MEMID=10.86.0.5" --key "$tmp/svc.key" --listen /ip4/$SVC/tcp/4001 --tun p2vpn0
wait_for "$tmp/svc.out" "VPN ID"
VPNID=$(grep -m1 "^VPN ID " "$tmp/svc.out" | cut -d' ' -f3)
JOIN=/ip4/$SVC/tcp/4001/p2p/$SVCID

# Services on the service's VPN address: iperf3; 81 replies to the first read and closes; 83 echoes and stays open.
cat >"$tmp/services.py" <<'PY'
import resource, socketserver, sys, threading
resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
ip = sys.argv[1]
class Reply(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(4096)
        self.request.sendall(b"ok\n")
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while (b := self.request.recv(65536)):
            self.request.sendall(b)
class Tcp(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024
for port, handler in ((81, Reply), (83, Echo)):
    threading.Thread(target=Tcp((ip, port), handler).serve_forever, daemon=True).start()
print("READY", flush=True)
threading.Event().wait()
PY
start services svc python3 -u "$tmp/services.py" $SVCVPN
start iperf svc iperf3 -s -B $SVCVPN -p 5201
wait_for "$tmp/services.out" READY

start client client "${CLI[@]}" vpn up --join "$JOIN" --key "$tmp/client.key" --listen /ip4/$CLIENT/tcp/4001 --tun p2vpn0
start proxy proxy "${CLI[@]}" proxy inbound --key "$tmp/proxy.key" --listen /ip4/$PROXY/tcp/4002 --vpn-join "$JOIN" --api "${API#http://}" \
  --max-connections-per-source 0 --connection-rate-per-source 0
# A second proxy, fresh and idle until the memory measurement (the first one's heap has grown by then).
start mem proxy "${CLI[@]}" proxy inbound --key "$tmp/mem.key" --listen /ip4/$PROXY/tcp/4003 --vpn-join "$JOIN" --api "${MEMAPI#http://}" \
  --max-connections-per-source 0 --connection-rate-per-source 0
wait_for "$tmp/client.out" "VPN UP"
wait_for "$tmp/proxy.out" "PROXY API"
wait_for "$tmp/mem.out" "PROXY API"
MEMPID=$(cat "$tmp/mem.pid")
gateway() { # api port
  ip netns exec "$P-proxy" "${CLI[@]}" proxy gateway add tcp 0.0.0.0:$2 --api "$1" --requestor bench --activity bench --vpn "$VPNID" \
    --remote-id "$SVCID" --remote-addr $SVCVPN:$(( $2 % 10000 )) >/dev/null
}
for port in 5201 81 83; do gateway $API $port; done
gateway "$MEMAPI" 10083
ip netns exec "$P-client" ping -c 3 -i 0.2 -W 2 $SVCVPN >/dev/null   # warm the client's data stream

# ---------------------------------------------------------------- throughput
iperf() { # host [-R] -> Gbit/s received
  for _ in 1 2 3; do # the server takes one test at a time: retry if it is still finishing the last one
    if out=$(ip netns exec "$P-client" iperf3 -c "$1" -p 5201 -t "$SECS" -J "${@:2}" 2>/dev/null); then
      echo "$out" | python3 -c 'import json,sys;print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9)'; return
    fi
    sleep 1
  done
  echo nan
}
UP_PROXY=$(iperf $PROXY); UP_VPN=$(iperf $SVCVPN)
DOWN_PROXY=$(iperf $PROXY -R); DOWN_VPN=$(iperf $SVCVPN -R)

# ---------------------------------------------------------------- new connections per second
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
read -r CPS_PROXY FAIL_PROXY MS_PROXY < <(ip netns exec "$P-client" python3 "$tmp/connect.py" $PROXY 81 "$CONN_SECS" "$WORKERS")
read -r CPS_VPN FAIL_VPN MS_VPN < <(ip netns exec "$P-client" python3 "$tmp/connect.py" $SVCVPN 81 "$CONN_SECS" "$WORKERS")

# ---------------------------------------------------------------- memory per forwarded connection
cat >"$tmp/hold.py" <<'PY'
import resource, socket, sys, time
resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held = []
for _ in range(count):
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    held.append(s)
print("OPEN", len(held), flush=True)
time.sleep(3600)
PY
# On the second proxy: a warm-up (the connection paths compiled, pools filled), then COUNT idle connections, then 4 x COUNT more.
ip netns exec "$P-client" timeout 60 python3 -c "
import socket
for _ in range(20):
    with socket.create_connection(('$PROXY', 10083), timeout=10) as s:
        s.sendall(b'x'); s.recv(1)"
settle() { for _ in $(seq 400); do [ "$(active)" = "$1" ] && return; sleep 0.05; done; echo "the proxy did not reach $1 active connections" >&2; exit 1; }
settle 0
RSS_BEFORE=$(rss_kb "$MEMPID")
start hold client python3 -u "$tmp/hold.py" $PROXY 10083 "$COUNT"
wait_for "$tmp/hold.out" OPEN
settle "$COUNT"
RSS_HELD=$(rss_kb "$MEMPID")
ACTIVE=$(active)
start hold2 client python3 -u "$tmp/hold.py" $PROXY 10083 $((4 * COUNT))
wait_for "$tmp/hold2.out" OPEN
settle $((5 * COUNT))
RSS_HELD5=$(rss_kb "$MEMPID")

python3 - "$SECS" "$UP_PROXY" "$UP_VPN" "$DOWN_PROXY" "$DOWN_VPN" "$WORKERS" "$CONN_SECS" "$CPS_PROXY" "$CPS_VPN" "$MS_PROXY" "$MS_VPN" \
  "$FAIL_PROXY" "$FAIL_VPN" "$COUNT" "$ACTIVE" "$RSS_BEFORE" "$RSS_HELD" "$RSS_HELD5" <<'PY'
import sys
a = sys.argv[1:]
secs, up_p, up_v, down_p, down_v = float(a[0]), *map(float, a[1:5])
workers, conn_secs, cps_p, cps_v, ms_p, ms_v = int(a[5]), float(a[6]), *map(float, a[7:11])
fail_p, fail_v, count, active, before, held, held5 = map(int, a[11:18])
pct = lambda x, y: f"{x / y * 100:.0f} %" if y else "-"
print(f"| client → service | through the inbound proxy | directly over the VPN (kernel TUN) | proxy / direct |")
print("|---|---:|---:|---:|")
print(f"| TCP throughput, client → service (iperf3, {secs:.0f} s) | {up_p:.2f} Gbit/s | {up_v:.2f} Gbit/s | {pct(up_p, up_v)} |")
print(f"| TCP throughput, service → client (iperf3 -R, {secs:.0f} s) | {down_p:.2f} Gbit/s | {down_v:.2f} Gbit/s | {pct(down_p, down_v)} |")
print(f"| new connections per second ({workers} clients, {conn_secs:.0f} s; connect, request, reply, close) | {cps_p:.0f} /s | {cps_v:.0f} /s | {pct(cps_p, cps_v)} |")
print(f"| time per connection (mean) | {ms_p:.2f} ms | {ms_v:.2f} ms | |")
if fail_p or fail_v:
    print(f"| failed connections | {fail_p} | {fail_v} | |")
print()
print(f"| a fresh proxy process (after a 20-connection warm-up) | RSS | per forwarded connection |")
print("|---|---:|---:|")
print(f"| no connection open | {before / 1024:.1f} MiB | |")
print(f"| {count} idle forwarded connections open ({active} active in its metrics) | {held / 1024:.1f} MiB | {(held - before) / count:.1f} KiB |")
print(f"| {5 * count} idle forwarded connections open | {held5 / 1024:.1f} MiB | {(held5 - before) / (5 * count):.1f} KiB |")
PY
