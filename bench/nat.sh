#!/usr/bin/env bash
# Figures for docs/nat-traversal.md, all in one run on this machine: network namespaces wired as an "Internet" switch
# (203.0.113.0/24: a relay that also serves AutoNAT, a second AutoNAT server, a public node) and three private networks
# behind router namespaces that masquerade and drop unsolicited inbound connections (two map endpoint-independently,
# one endpoint-dependently: `masquerade random,fully-random`). Every node is a `p2pnet` process.
#   - time to a reachability verdict (public node, private node), from the node's start;
#   - hole punching: ATTEMPTS attempts per NAT pairing (endpoint-independent on both sides; endpoint-dependent on one)
#     and, where it works, the time from the relayed connection to the direct one (the upgrading side's measure);
#   - throughput of one perf download through the relay and over the hole-punched connection, and the relay's CPU
#     seconds per relayed GB;
#   - the relay's resident memory per reservation and per open circuit (on loopback, COUNT of each).
# Needs root, iproute2, nftables, bc.   bench/nat.sh [ATTEMPTS, default 50] [COUNT, default 200] [BYTES, default 1000000000]
set -euo pipefail
cd "$(dirname "$0")/.."
attempts=${1:-50}
count=${2:-200}
bytes=${3:-1000000000}
dotnet build samples/P2PNet.Cli -c Release -v q -nologo >/dev/null
dotnet build bench/P2PNet.Bench -c Release -v q -nologo >/dev/null
CLI=(dotnet "$PWD/samples/P2PNet.Cli/bin/Release/net10.0/p2pnet.dll")
BENCH=(dotnet "$PWD/bench/P2PNet.Bench/bin/Release/net10.0/P2PNet.Bench.dll")
P=natb$$
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in hub relay autonat public rl rr rs a b c; do ip netns del "$P-$n" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
now() { date +%s.%N; }
wait_for() { for _ in $(seq 1200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- topology
for n in hub relay autonat public rl rr rs a b c; do ip netns add "$P-$n"; ip -n "$P-$n" link set lo up; done
for br in wan lana lanb lanc; do ip -n "$P-hub" link add $br type bridge; ip -n "$P-hub" link set $br up; done
i=0
plug() { # ns bridge address/prefix ifname
  i=$((i + 1)); ip link add "$P-v$i" type veth peer name "$P-h$i"
  ip link set "$P-v$i" netns "$P-$1"; ip link set "$P-h$i" netns "$P-hub"
  ip -n "$P-hub" link set "$P-h$i" master "$2"; ip -n "$P-hub" link set "$P-h$i" up
  ip -n "$P-$1" link set "$P-v$i" name "$4"; ip -n "$P-$1" addr add "$3" dev "$4"; ip -n "$P-$1" link set "$4" up
}
plug relay wan 203.0.113.10/24 eth0
plug autonat wan 203.0.113.11/24 eth0
plug public wan 203.0.113.20/24 eth0
nat() { # router wan-address lan lan-prefix random?
  plug "$1" wan "$2/24" eth0; plug "$1" "$3" "$4.1/24" eth1
  ip netns exec "$P-$1" sysctl -qw net.ipv4.ip_forward=1
  local m="masquerade"; [ "${5:-}" = random ] && m="masquerade random,fully-random"
  ip netns exec "$P-$1" nft -f - <<NFT
table ip nat {
  chain post {
    type nat hook postrouting priority 100;
    oifname "eth0" $m
  }
}
table ip filter {
  chain input {
    type filter hook input priority 0; policy accept;
    iifname "eth0" ct state new drop
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname "eth0" ct state new drop
  }
}
NFT
}
nat rl 203.0.113.2 lana 10.81.0
nat rr 203.0.113.3 lanb 10.82.0
nat rs 203.0.113.4 lanc 10.83.0 random
plug a lana 10.81.0.10/24 eth0; ip -n "$P-a" route add default via 10.81.0.1
plug b lanb 10.82.0.10/24 eth0; ip -n "$P-b" route add default via 10.82.0.1
plug c lanc 10.83.0.10/24 eth0; ip -n "$P-c" route add default via 10.83.0.1

run_in() { local ns=$1; shift; ip netns exec "$P-$ns" "$@"; }
start() { # name ns args... (stdout to $tmp/name.out)
  local name=$1 ns=$2; shift 2
  ip netns exec "$P-$ns" "${CLI[@]}" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!); echo $! >"$tmp/$name.pid" # ip execs the command: this is the node's own pid
}

start relay relay node --listen /ip4/0.0.0.0/tcp/4001 --relay-service --relay-data-limit 0 --relay-duration 0 --autonat-service --autonat-allow-private
start autonat autonat node --listen /ip4/0.0.0.0/tcp/4001 --autonat-service --autonat-allow-private
wait_for "$tmp/relay.out" "LISTEN /ip4/203.0.113.10/"
wait_for "$tmp/autonat.out" "LISTEN /ip4/203.0.113.11/"
R=$(grep -m1 "LISTEN /ip4/203.0.113.10/" "$tmp/relay.out" | cut -d' ' -f2)
S=$(grep -m1 "LISTEN /ip4/203.0.113.11/" "$tmp/autonat.out" | cut -d' ' -f2)

# ---------------------------------------------------------------- reachability verdicts
t0=$(now)
start public public node --listen /ip4/0.0.0.0/tcp/4001 --bootstrap "$S" --bootstrap "$R" --autonat --autonat-allow-private
wait_for "$tmp/public.out" "REACHABILITY public"
public_verdict=$(echo "$(now) - $t0" | bc)
t0=$(now)
start b b node --json --listen /ip4/0.0.0.0/tcp/4001 --relay "$R" --bootstrap "$S" --autonat --autonat-allow-private
wait_for "$tmp/b.out" '"message":"private"'
private_verdict=$(echo "$(now) - $t0" | bc)
wait_for "$tmp/b.out" '"type":"reserved".*203.0.113.10'
circuit=$(grep '"type":"reserved"' "$tmp/b.out" | grep -o '"address":"/ip4/203.0.113.10/[^"]*"' | head -1 | cut -d'"' -f4)
b_nat=$(grep -o '"type":"nat","message":"[^"]*"' "$tmp/b.out" | head -1 | cut -d'"' -f8)

# ---------------------------------------------------------------- hole punching
punch() { # ns port wait -> prints 1 on a DIRECT line
  run_in "$1" "${CLI[@]}" ping "$circuit" --count 1 --timeout 60 --listen "/ip4/0.0.0.0/tcp/$2" --direct-wait "$3" 2>/dev/null | grep -c '^DIRECT ' || true
}
cone_ok=0
for n in $(seq "$attempts"); do
  cone_ok=$((cone_ok + $(punch a $((20000 + n)) 10)))
done
times=$(grep '"type":"direct"' "$tmp/b.out" | grep -o '"message":"[0-9]* ms' | grep -o '[0-9]*' | sort -n)
direct_n=$(echo "$times" | grep -c . || true)
median_ms=$(echo "$times" | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}')
p90_ms=$(echo "$times" | awk '{a[NR]=$1} END {if (NR) print a[int(NR*0.9+0.5)]; else print "-"}')
sym_ok=0
for batch in $(seq 0 10 $((attempts - 1))); do
  for k in $(seq 0 9); do
    [ $((batch + k)) -lt "$attempts" ] || break
    punch c $((21000 + batch + k)) 20 >"$tmp/sym.$((batch + k))" &
  done
  wait $(jobs -p | grep -v -F -x -f <(printf '%s\n' "${pids[@]}")) 2>/dev/null || true
done
for f in "$tmp"/sym.*; do sym_ok=$((sym_ok + $(cat "$f"))); done

# ---------------------------------------------------------------- throughput and relay CPU
relay_pid=$(cat "$tmp/relay.pid")
before=$(cpu_ticks "$relay_pid")
relayed=$(run_in a "${CLI[@]}" perf "$circuit" --download "$bytes" --timeout 600 | tail -1)
after=$(cpu_ticks "$relay_pid")
ticks=$(getconf CLK_TCK)
relay_cpu_per_gb=$(echo "scale=2; ($after - $before) / $ticks / ($bytes / 1000000000)" | bc)
direct=$(run_in a "${CLI[@]}" perf "$circuit" --download "$bytes" --timeout 600 --listen /ip4/0.0.0.0/tcp/30001 --direct-wait 15 | tail -1)
gbit() { echo "$1" | grep -o '"download_gbit_s":[0-9.]*' | cut -d: -f2; }
relayed_gbit=$(gbit "$relayed")
direct_gbit=$(gbit "$direct")

# ---------------------------------------------------------------- memory per reservation and per circuit (loopback)
mkfifo "$tmp/serve.in" "$tmp/load.in"
"${BENCH[@]}" relay-serve <"$tmp/serve.in" >"$tmp/serve.out" 2>&1 &
serve_pid=$!; pids+=($serve_pid)
exec {serve_in}>"$tmp/serve.in"
wait_for "$tmp/serve.out" "^LISTEN "
relay_ma=$(grep -m1 "^LISTEN " "$tmp/serve.out" | cut -d' ' -f2)
"${BENCH[@]}" relay-load "$relay_ma" --count "$count" <"$tmp/load.in" >"$tmp/load.out" 2>&1 &
load_pid=$!; pids+=($load_pid)
exec {load_in}>"$tmp/load.in"
wait_for "$tmp/load.out" "^CONNECTED "; sleep 2; connected=$(rss_kb "$serve_pid")
echo >&"$load_in"; wait_for "$tmp/load.out" "^RESERVED "; sleep 2; reserved=$(rss_kb "$serve_pid")
echo >&"$load_in"; wait_for "$tmp/load.out" "^CIRCUITS "; sleep 2; circuits=$(rss_kb "$serve_pid")
echo >&"$load_in"; exec {load_in}>&-; wait "$load_pid" 2>/dev/null || true
exec {serve_in}>&-; wait "$serve_pid" 2>/dev/null || true
per_reservation=$(echo "scale=1; ($reserved - $connected) / $count" | bc)
per_circuit=$(echo "scale=1; ($circuits - $reserved) / $count" | bc)

printf '\n%-58s %s\n' "figure" "value"
printf '%-58s %.1f s\n' "reachability verdict, public node (from process start)" "$public_verdict"
printf '%-58s %.1f s\n' "reachability verdict, private node (from process start)" "$private_verdict"
printf '%-58s %s\n' "NAT type the private node reported" "$b_nat"
printf '%-58s %s / %s\n' "hole punches, endpoint-independent <-> independent" "$cone_ok" "$attempts"
printf '%-58s %s / %s\n' "hole punches, endpoint-dependent <-> independent" "$sym_ok" "$attempts"
printf '%-58s %s ms (p90 %s ms, n=%s)\n' "relayed -> direct, median (upgrading side)" "$median_ms" "$p90_ms" "$direct_n"
printf '%-58s %s Gbit/s\n' "perf download through the relay ($bytes B)" "$relayed_gbit"
printf '%-58s %s Gbit/s\n' "perf download over the hole-punched connection" "$direct_gbit"
printf '%-58s %s s\n' "relay CPU per relayed GB" "$relay_cpu_per_gb"
printf '%-58s %s KiB\n' "relay memory per reservation ($count)" "$per_reservation"
printf '%-58s %s KiB\n' "relay memory per open circuit ($count)" "$per_circuit"
printf '%-58s %s\n' "load average" "$(cut -d' ' -f1-3 /proc/loadavg)"
