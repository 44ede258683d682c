#!/usr/bin/env bash
# The DHT and gossipsub figures of docs/dht-pubsub.md (issue 20), in-process networks on 127.0.0.1 (real TCP, Noise,
# Yamux). Kademlia lookups against network size: 10, 100 and 1,000 hosts, each joining through three random earlier
# nodes and bootstrapping, then random-key lookups from random nodes (connections idle 2 s close, so a 1,000-node
# network fits one process's descriptors). Gossipsub: 100 hosts in a ring plus two random links each, all subscribed
# to one topic, 20 messages a second for 10 s from random nodes. Usage: bench/dht.sh [sizes…] (default 10 100 1000).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dotnet build "$root/bench/P2PNet.Bench/P2PNet.Bench.csproj" -c Release -nologo -v q >&2
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1000)
echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ); commit $(git -C "$root" rev-parse --short HEAD)"
echo
echo "| nodes | lookups | latency p50 ms | latency p99 ms | hops mean / max | true 20 closest returned | table entries per node | routing-table bytes per entry | managed heap KiB per node | RSS KiB per node | set-up |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in "${sizes[@]}"; do
  lookups=$(( n >= 1000 ? 100 : 50 ))
  "$root/bench/P2PNet.Bench/bin/Release/net10.0/P2PNet.Bench" dht --nodes "$n" --lookups "$lookups"
done
echo
echo "| gossipsub nodes | published | delivery p50 ms | delivery p99 ms | delivered | sustained | mesh peers per node | router bytes per mesh peer | router bytes per connected peer |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
"$root/bench/P2PNet.Bench/bin/Release/net10.0/P2PNet.Bench" gossip --nodes 100 --rate 20 --seconds 10
"$root/bench/P2PNet.Bench/bin/Release/net10.0/P2PNet.Bench" gossip --nodes 100 --rate 100 --seconds 10   # past saturation: what it sustains
