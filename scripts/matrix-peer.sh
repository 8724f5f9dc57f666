#!/usr/bin/env bash
# scripts/matrix-peer.sh — build the Dendrite Matrix homeserver the Matrix
# sender's tests run against, once. Idempotent: when every binary is already in
# the cache directory, nothing is built.
#
#   scripts/matrix-peer.sh            # build if missing, print the bin dir
#   scripts/matrix-peer.sh --force    # rebuild even if present
#
# Dendrite is pinned in the separate module tools/dendrite (go.mod + tools.go),
# so its dependency graph never touches fmn's go.mod. `go install pkg@version`
# does not work here (the module proxy refuses version listings for Dendrite,
# see shared/notes/peers.md), hence the tools module. A cold build takes about
# two minutes on two cores.
#
# Prints the directory holding the binaries on stdout (the tests look there,
# or in $FMN_DENDRITE_BIN). Progress goes to stderr.
#
# Environment:
#   FMN_DENDRITE_BIN   where to put the binaries
#                      (default ${XDG_CACHE_HOME:-$HOME/.cache}/fmn/bin)
#   GO                 the go command (default go)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${FMN_DENDRITE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/fmn/bin}
GO=${GO:-go}
TOOLS=(dendrite generate-config generate-keys create-account)

note() { echo "matrix-peer: $*" >&2; }

missing=0
for t in "${TOOLS[@]}"; do
	[[ -x "$BIN/$t" ]] || missing=1
done
if [[ $missing = 0 && ${1:-} != --force ]]; then
	note "dendrite binaries present in $BIN"
	echo "$BIN"
	exit 0
fi

mkdir -p "$BIN"
note "building dendrite into $BIN (about 2 min cold)"
start=$SECONDS
pkgs=()
for t in "${TOOLS[@]}"; do
	pkgs+=("github.com/element-hq/dendrite/cmd/$t")
done
# -mod=mod is not used: go.sum in tools/dendrite pins every hash.
(cd "$ROOT/tools/dendrite" && GOBIN="$BIN" GOFLAGS="${GOFLAGS:-} -buildvcs=false" "$GO" install "${pkgs[@]}")
note "built in $((SECONDS - start))s"
echo "$BIN"
