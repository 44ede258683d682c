#!/usr/bin/env bash
# Runs every P2PNet test on this machine, doing its own set-up first:
#   - Debian packages the real-component tests need (iproute2, iperf3, chromium) when running as root,
#   - the pinned Node 22 + js-libp2p packages for the interop tests (tests/interop, npm ci),
#   - the package checks (eng/package-checks.sh: pack, install and run the p2pnet tool, build tests/consumer from the packages),
#   - then `dotnet test` over the whole solution.
# Ends with the line "N passed, N failed[, N skipped]" counted from the test results.
set -uo pipefail
cd "$(dirname "$0")"
root=$(pwd)
results="$root/.test-results"
rm -rf "$results"; mkdir -p "$results"

log() { printf '[test.sh] %s\n' "$*" >&2; }

# --- system packages (only what is missing; needs root) ---
need_pkgs=()
command -v ip >/dev/null 2>&1 || need_pkgs+=(iproute2)
command -v iperf3 >/dev/null 2>&1 || need_pkgs+=(iperf3)
command -v ping >/dev/null 2>&1 || need_pkgs+=(iputils-ping)
command -v nft >/dev/null 2>&1 || need_pkgs+=(nftables)        # NamespaceLab.MasqueradeAsync (NAT routers), bench loss
command -v sysctl >/dev/null 2>&1 || need_pkgs+=(procps)      # NamespaceLab routers, per-namespace TCP buffers
command -v curl >/dev/null 2>&1 || need_pkgs+=(curl)          # netstack serve and tunnel tests
[ -x /usr/bin/python3 ] || need_pkgs+=(python3)               # bench/netstack-tool.py, http.server in the tunnel test
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
# Tunnel namespace test (tests/P2PNet.Proxy.Tests/Tunnels): a real sshd and ssh, curl, openssl s_server, nftables NAT.
[ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need_pkgs+=(openssh-client)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    (apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}") >"$results/apt.log" 2>&1 \
      || { log "apt-get failed, see $results/apt.log"; tail -20 "$results/apt.log" >&2; exit 1; }
  else
    log "not root: cannot install ${need_pkgs[*]}; tests that need them will fail"
  fi
fi

# --- node packages for interop and browser tests ---
for dir in $(find tests -name package-lock.json -not -path "*/node_modules/*" -exec dirname {} \; | sort); do
  if [ -f "$dir/package-lock.json" ]; then
    log "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >"$results/npm-$(basename "$dir").log" 2>&1 \
      || { log "npm ci failed in $dir"; tail -20 "$results/npm-$(basename "$dir").log" >&2; exit 1; }
  fi
done

# --- build once, then test ---
log "building"
if ! dotnet build P2PNet.sln -c Release -nologo -v quiet >"$results/build.log" 2>&1; then
  grep -E "error|warn" "$results/build.log" | sort -u | head -40 >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# --- packages as users get them: pack, install the tool and run it, build a consumer project from the packages ---
# Each check counts as one test in the final line (eng/package-checks.sh prints PASS/FAIL lines).
log "package checks"
./eng/package-checks.sh "$results" >"$results/package-checks.txt" 2>"$results/package-checks.log"
package_passed=$(grep -c '^PASS ' "$results/package-checks.txt")
package_failed=$(grep -c '^FAIL ' "$results/package-checks.txt")
grep '^FAIL ' "$results/package-checks.txt" | sed 's/^/[test.sh] package check /' >&2
if [ "$package_passed" = 0 ] && [ "$package_failed" = 0 ]; then
  log "package checks printed no result, see $results/package-checks.log"; package_failed=1
fi

log "testing"
dotnet test P2PNet.sln -c Release --no-build -nologo \
  --logger "trx" --results-directory "$results" \
  --blame-hang-timeout 5m "$@" 2>&1 | tee "$results/test.log" | grep -E "^\s*(Failed|Passed!|Failed!|Skipped) |error" >&2
test_rc=${PIPESTATUS[0]}

passed=$package_passed; failed=$package_failed; skipped=0; total=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  line=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$line" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  p=$(get passed); f=$(get failed); e=$(get error); t=$(get total); x=$(get executed)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0} + ${e:-0}))
  skipped=$((skipped + ${t:-0} - ${x:-0}))
done
if [ "$test_rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi   # a crash or hang that left no counted failure
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ] && [ "$test_rc" = 0 ]
