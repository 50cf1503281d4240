#!/usr/bin/env bash
# Runs every fuzz target of the module for a bounded time each (FUZZTIME,
# default 30s). A failure leaves its input under the package's
# testdata/fuzz/<Target>/, where `go test` replays it from then on: commit it
# with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${FUZZTIME:-30s}"
found=0
# nested DIR: DIR belongs to another module (bench/jsoncompare, ...).
nested() {
  local d=$1
  while [[ $d != . ]]; do
    [[ -f $d/go.mod ]] && return 0
    d=$(dirname "$d")
  done
  return 1
}
# Targets are found in the source (func FuzzX(f *testing.F)), which spares
# compiling every package's tests just to list them.
while IFS=: read -r file target; do
  nested "$(dirname "$file")" && continue
  pkg="./$(dirname "$file")"
  found=$((found + 1))
  echo "fuzz: $pkg $target for $fuzztime"
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
done < <(git ls-files '*_test.go' | xargs grep -o '^func Fuzz[A-Za-z0-9_]*' | sed 's/^\(.*\):func /\1:/' | sort)
if [[ $found == 0 ]]; then
  echo "fuzz: no fuzz targets found" >&2
  exit 1
fi
echo "fuzz: $found target(s) passed"
