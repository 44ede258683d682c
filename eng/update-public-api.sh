#!/usr/bin/env bash
# Regenerates src/*/PublicAPI.Unshipped.txt from the code: every public API not in PublicAPI.Shipped.txt is listed in
# Unshipped (RS0016), entries for APIs that no longer exist are removed (RS0017). Run it after adding or changing a
# public API (or after merging branches that did), review the diff, commit it. See CONTRIBUTING.md.
#   eng/update-public-api.sh            all libraries
#   eng/update-public-api.sh Core Vpn   only P2PNet.Core and P2PNet.Vpn
set -euo pipefail
cd "$(dirname "$0")/.."

projects=("$@")
[ ${#projects[@]} -gt 0 ] || projects=(Core Swarm Vpn Proxy)

for name in "${projects[@]}"; do
  dir="src/P2PNet.$name"
  proj="$dir/P2PNet.$name.csproj"
  [ -f "$proj" ] || { echo "update-public-api: no project $proj" >&2; exit 2; }
  for file in PublicAPI.Shipped.txt PublicAPI.Unshipped.txt; do
    [ -f "$dir/$file" ] || printf '#nullable enable\n' > "$dir/$file"
  done
  # Start Unshipped from scratch, so removed APIs disappear and the file is in the analyzer's own order.
  printf '#nullable enable\n' > "$dir/PublicAPI.Unshipped.txt"
  echo "update-public-api: $proj" >&2
  # The code fix adds each missing API to Unshipped (RS0016) and drops stale entries (RS0017). Warnings are errors in
  # this repository; the analyzers run at warning severity here so the fixer sees them.
  if ! dotnet format analyzers "$proj" --diagnostics RS0016 RS0017 --severity warn; then
    echo "update-public-api: dotnet format failed on $proj" >&2; exit 1
  fi
  # One API per line, sorted (ordinal) so parallel branches merge with few conflicts.
  { echo '#nullable enable'; grep -v '^#nullable enable$' "$dir/PublicAPI.Unshipped.txt" | grep -v '^$' | LC_ALL=C sort -u; } \
    > "$dir/PublicAPI.Unshipped.txt.tmp"
  mv "$dir/PublicAPI.Unshipped.txt.tmp" "$dir/PublicAPI.Unshipped.txt"
done
