#!/usr/bin/env bash
# Checks the packages as users get them, after the solution is built (test.sh runs it; it can run alone after
# `dotnet build P2PNet.sln -c Release`):
#   pack         every package packs (4 libraries + the P2PNet.Cli tool), each with its README and a .snupkg
#   tool-install the tool installs from the packed folder (dotnet tool install --tool-path … --add-source …)
#   tool-key     the installed `p2pnet key new` writes a key whose peer id `p2pnet id` prints
#   tool-ping    the installed `p2pnet node` runs and the installed `p2pnet ping` reaches it
#   consumer     tests/consumer (outside the solution, its own nuget.config) restores the packages and pings
# Prints "PASS <check>" / "FAIL <check>: <why>" lines on stdout (test.sh counts them) and details to stderr; logs go
# to RESULTS_DIR (default .test-results). Exit status: the number of failed checks.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
results=${1:-$root/.test-results}
mkdir -p "$results"
# A version of its own per run: the global package cache keeps a package by id and version, so re-packing 0.1.0 would
# install a stale copy. Removed from the cache again at the end.
base=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props | head -1)
version="${base:-0.1.0}-ci.$(date -u +%Y%m%d%H%M%S).$$"
packages="$root/artifacts/packages"
work=$(mktemp -d "${TMPDIR:-/tmp}/p2pnet-package-checks.XXXXXX")
failed=0
node_pid=

log() { printf '[package-checks] %s\n' "$*" >&2; }
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; log "FAIL $1: $2"; failed=$((failed + 1)); }
cleanup() {
  [ -n "$node_pid" ] && kill "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null
  rm -rf "$work"
  cache=$(dotnet nuget locals global-packages --list 2>/dev/null | sed -n 's/^global-packages: //p')
  for id in p2pnet.core p2pnet.swarm p2pnet.vpn p2pnet.proxy p2pnet.cli; do
    [ -n "$cache" ] && rm -rf "${cache%/}/$id/$version"
  done
}
trap cleanup EXIT

log "version $version"
rm -rf "$packages"; mkdir -p "$packages"

# --- pack ---
if timeout 300 dotnet pack P2PNet.sln -c Release --no-build -nologo -o "$packages" -p:PackageVersion="$version" \
    >"$results/pack.log" 2>&1; then
  missing=()
  for id in P2PNet.Core P2PNet.Swarm P2PNet.Vpn P2PNet.Proxy P2PNet.Cli; do
    nupkg="$packages/$id.$version.nupkg"
    if [ ! -f "$nupkg" ] || [ ! -f "$packages/$id.$version.snupkg" ]; then missing+=("$id (.nupkg/.snupkg)")
    elif ! grep -qa "README.md" "$nupkg"; then missing+=("$id (README.md)")   # zip names are stored uncompressed
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then pass pack; else fail pack "missing ${missing[*]}"; fi
else
  fail pack "dotnet pack failed, see $results/pack.log"; grep -E "error" "$results/pack.log" | sort -u | head -10 >&2
fi

# --- the tool, installed from the packed folder ---
tools="$work/tools"
p2pnet="$tools/p2pnet"
if timeout 180 dotnet tool install --tool-path "$tools" --add-source "$packages" P2PNet.Cli --version "$version" \
    >"$results/tool-install.log" 2>&1 && [ -x "$p2pnet" ]; then
  pass tool-install
else
  fail tool-install "dotnet tool install P2PNet.Cli $version failed, see $results/tool-install.log"
fi

if [ -x "$p2pnet" ]; then
  key="$work/node.key"
  created=$(timeout 60 "$p2pnet" key new --out "$key" 2>"$results/tool-key.log")
  shown=$(timeout 60 "$p2pnet" id --key "$key" 2>>"$results/tool-key.log")
  if [[ "$created" == 12D3KooW* ]] && [ "$created" = "$shown" ]; then pass tool-key
  else fail tool-key "key new printed '$created', id printed '$shown' (see $results/tool-key.log)"; fi

  "$p2pnet" node --key "$key" >"$work/node.out" 2>"$results/tool-node.log" &
  node_pid=$!
  address=
  for _ in $(seq 300); do   # up to 30 s for the LISTEN line on a loaded machine
    address=$(sed -n 's/^LISTEN //p' "$work/node.out" | head -1)
    [ -n "$address" ] && break
    kill -0 "$node_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$address" ]; then
    fail tool-ping "p2pnet node printed no LISTEN line (see $results/tool-node.log)"
  elif ping_out=$(timeout 90 "$p2pnet" ping "$address" --count 2 --timeout 60 2>"$results/tool-ping.log") \
      && [ "$(grep -c '"rtt_ms"' <<<"$ping_out")" = 2 ]; then
    pass tool-ping
  else
    fail tool-ping "p2pnet ping $address did not print 2 rtt_ms lines (see $results/tool-ping.log)"
  fi
  if [ -n "$node_pid" ]; then
    kill -TERM "$node_pid" 2>/dev/null; wait "$node_pid" 2>/dev/null; node_pid=
  fi
else
  fail tool-key "the tool is not installed"; fail tool-ping "the tool is not installed"
fi

# --- a user's project restoring the packages ---
if out=$(timeout 300 dotnet run --project tests/consumer -c Release -p:P2PNetVersion="$version" 2>&1 | tee "$results/consumer.log") \
    && grep -q '^consumer: ok' <<<"$out"; then
  pass consumer
else
  fail consumer "tests/consumer did not print 'consumer: ok' (see $results/consumer.log)"; tail -15 "$results/consumer.log" >&2
fi
rm -rf tests/consumer/bin tests/consumer/obj
exit "$failed"
