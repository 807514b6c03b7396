#!/usr/bin/env bash
# Builds test/go/recipes against Debian's etcd 3.4 Go sources (golang-go + golang-etcd-server-dev, installed by
# .ci/run). Prints the binary's path. Output goes to test/go/bin (ignored by git).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$here/bin/recipes
if [[ -x $out && $out -nt $here/recipes/main.go ]]; then echo "$out"; exit 0; fi
gopath=$(mktemp -d); trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src/recipes" "$here/bin"
cp "$here/recipes/main.go" "$gopath/src/recipes/"
(cd "$gopath/src/recipes" && GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="${GOCACHE:-$HOME/.cache/go-build}" GOFLAGS=-mod=mod go build -o "$out" .) >&2
echo "$out"
