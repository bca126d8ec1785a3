#!/usr/bin/env bash
# Builds the S3-compatible server of tests/test_s3_lakehouse.py, the Versity S3 Gateway (versitygw,
# Apache-2.0; riskpipe/testing/s3_server.py runs it) and prints the binary's path. The version and
# every module checksum are pinned by tests/s3/versitygw/go.mod and go.sum (its `tool` line);
# nothing else is fetched. Built once: the binary is kept in .cache/tools/ under a key of those two
# files and the Go version, so only a change of either builds it again. Go's own module and build
# caches (outside the clone) make a rebuild, or the build in another clone on the same machine,
# take seconds; docs/testing.md has the time from nothing.
# `--background` starts the build detached and returns at once (make test does this before lint,
# so that the build overlaps it); whoever asks next waits for that build through the lock.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="$repo/tests/s3/versitygw"
tools="$repo/.cache/tools"
package="github.com/versity/versitygw/cmd/versitygw"

if ! command -v go >/dev/null; then
  echo "$0: go not found: building $package needs Go on the PATH (see $src/go.mod)" >&2
  exit 1
fi
have="$(go env GOVERSION)"
key="$(cat "$src/go.mod" "$src/go.sum" <(echo "$have") | sha256sum | cut -c1-16)"
bin="$tools/versitygw-$key"
mkdir -p "$tools"

if [ "${1:-}" = "--background" ]; then
  if [ ! -x "$bin" ]; then
    nohup "$0" >"$tools/versitygw.log" 2>&1 </dev/null &
  fi
  exit 0
fi

if [ ! -x "$bin" ]; then
  # two pytest workers (or make's background build and the test) may ask at once: one builds,
  # the other waits for it
  exec 9>"$tools/versitygw.lock"
  flock 9
  if [ ! -x "$bin" ]; then
    echo "building $bin ($package, $have)" >&2
    # -mod=readonly: go.sum as committed, never rewritten; GOTOOLCHAIN=local: no toolchain download
    (cd "$src" && GOFLAGS="-mod=readonly -buildvcs=false" GOTOOLCHAIN=local go build -trimpath -o "$bin.tmp" "$package") >&2
    mv "$bin.tmp" "$bin"
  fi
fi
echo "$bin"
