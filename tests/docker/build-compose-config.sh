#!/usr/bin/env bash
# Builds tests/docker/compose-config (`docker compose config` without Docker, for
# tests/docker/test_compose_config.py) and prints the binary's path. Built once: the binary is kept
# in .cache/tools/ under a key of its sources and the Go version, so only a change of either builds
# it again. Go's own module and build caches (outside the clone) make that rebuild, or the build in
# another clone on the same machine, take seconds; from nothing it downloads ~80 MB of modules and
# compiles for about half a minute on 2 cores.
# Needs Go at least as new as the `go` line of its go.mod, the machine's toolchain (Debian
# bookworm's golang-go is 1.19, too old for the compose-spec loader). `--check` only checks that
# (tests/system-deps.sh calls it before make test starts).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="$repo/tests/docker/compose-config"
tools="$repo/.cache/tools"
need="$(awk '$1 == "go" { print $2; exit }' "$src/go.mod")"

if ! command -v go >/dev/null; then
  echo "$0: go not found: building $src needs Go $need or newer on the PATH" >&2
  exit 1
fi
have="$(go env GOVERSION)"
if [ "$(printf '%s\n%s\n' "$need" "${have#go}" | sort -V | head -n1)" != "$need" ]; then
  echo "$0: $(command -v go) is $have: building $src needs Go $need or newer (its go.mod)" >&2
  exit 1
fi
if [ "${1:-}" = "--check" ]; then
  exit 0
fi

key="$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go <(echo "$have") | sha256sum | cut -c1-16)"
bin="$tools/compose-config-$key"
if [ ! -x "$bin" ]; then
  mkdir -p "$tools"
  # two pytest workers may ask at once: one builds, the other waits for it
  exec 9>"$tools/compose-config.lock"
  flock 9
  if [ ! -x "$bin" ]; then
    echo "building $bin from $src ($have)" >&2
    # -mod=readonly: go.sum as committed, never rewritten; GOTOOLCHAIN=local: no toolchain download
    (cd "$src" && GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local go build -trimpath -o "$bin.tmp" .) >&2
    mv "$bin.tmp" "$bin"
  fi
fi
echo "$bin"
