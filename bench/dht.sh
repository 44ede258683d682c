#!/usr/bin/env bash
# Kademlia lookups against network size (issue 20, docs/dht-pubsub.md): in-process networks of 10, 100 and 1,000 hosts
# on 127.0.0.1 (real TCP, Noise, Yamux), each joining through three random earlier nodes and bootstrapping, then
# random-key lookups from random nodes. Usage: bench/dht.sh [sizes…] (default 10 100 1000). A 1,000-node network holds
# tens of thousands of connections in one process: the script raises the descriptor limit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dotnet build "$root/bench/P2PNet.Bench/P2PNet.Bench.csproj" -c Release -nologo -v q >&2
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(10 100 1000)
echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ); commit $(git -C "$root" rev-parse --short HEAD)"
echo
echo "| nodes | lookups | latency p50 ms | latency p99 ms | hops mean / max | true 20 closest returned | table entries per node | managed heap KiB per node | RSS KiB per node | set-up |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in "${sizes[@]}"; do
  lookups=$(( n >= 1000 ? 100 : 50 ))
  "$root/bench/P2PNet.Bench/bin/Release/net10.0/P2PNet.Bench" dht --nodes "$n" --lookups "$lookups"
done
