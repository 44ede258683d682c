#!/usr/bin/env bash
# Benchmark of the WebSocket-to-UDP bridge (bench/P2PNet.Bench.Bridge): relay throughput and memory per idle client.
# Raises the open-file limit first: each bridge client holds two descriptors, and 10,000 clients are measured.
#   bench/bridge.sh [--only throughput|memory] [--idle-clients N] [--clients N] [--window N] [--payload N] [--seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "bench/bridge.sh: open-file limit $(ulimit -n)" >&2
dotnet build bench/P2PNet.Bench.Bridge -c Release -nologo -v quiet >&2
exec dotnet bench/P2PNet.Bench.Bridge/bin/Release/net10.0/P2PNet.Bench.Bridge.dll "$@"
