#!/usr/bin/env bash
# Builds test/go/rwmutex against Debian's etcd 3.4 Go sources (golang-go + golang-etcd-server-dev, installed by
# .ci/run), like ../build.sh does for ../recipes. Prints the binary's path (test/go/bin/rwmutex, ignored by git).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/../bin/rwmutex
if [[ -x $out && $out -nt $here/main.go ]]; then echo "$out"; exit 0; fi
gopath=$(mktemp -d); trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src/rwmutex" "$here/../bin"
cp "$here/main.go" "$gopath/src/rwmutex/"
(cd "$gopath/src/rwmutex" && GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="${GOCACHE:-$HOME/.cache/go-build}" GOFLAGS=-mod=mod go build -o "$out" .) >&2
echo "$out"
