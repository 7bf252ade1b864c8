#!/usr/bin/env bash
# Builds the Go interop fixtures (see interop/README.md):
#   OUTDIR/bin/plexus-goplugin-notifier  a go-plugin notifier plugin
#   OUTDIR/bin/plexus-gohost             a go-plugin host shaped like SFTPGo's
#   OUTDIR/bin/plexus-publish            a client of the ingestion API
#
# Usage: interop/build-go.sh OUTDIR
#
# Offline, GOPATH mode, against the Debian Go packages in /usr/share/gocode
# (hashicorp/go-plugin 1.0.1, grpc 1.33, golang/protobuf 1.3.5). OUTDIR gets a
# throwaway GOPATH holding a copy of interop/go/src and the stubs generated
# from proto/proto/notifier.proto, plus (unless GOCACHE is set) the build
# cache, so re-runs only relink. Safe to re-run.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
src="$here/go/src"
proto_src="$repo/proto/proto/notifier.proto"
sys_gopath=/usr/share/gocode

need() { # need TOOL DEBIAN-PACKAGES
    if ! command -v "$1" >/dev/null 2>&1; then
        echo "error: '$1' not found in PATH; install the Debian package(s): $2" >&2
        exit 1
    fi
}
need go "golang-go"
need protoc "protobuf-compiler"
need protoc-gen-go "protoc-gen-go-1-3 (pulled in by golang-goprotobuf-dev)"

for dep in github.com/hashicorp/go-plugin google.golang.org/grpc \
           github.com/golang/protobuf/ptypes/empty github.com/hashicorp/go-hclog; do
    if [[ ! -d "$sys_gopath/src/$dep" ]]; then
        echo "error: $sys_gopath/src/$dep is missing; install golang-github-hashicorp-go-plugin-dev," \
             "golang-google-grpc-dev and golang-goprotobuf-dev" >&2
        exit 1
    fi
done
# empty.proto ships with libprotobuf-dev; newer protoc finds it on its own,
# but say so explicitly.
proto_include=/usr/include
if [[ ! -f "$proto_include/google/protobuf/empty.proto" ]]; then
    echo "error: $proto_include/google/protobuf/empty.proto is missing; install libprotobuf-dev" >&2
    exit 1
fi

mkdir -p "$1"
out="$(cd "$1" && pwd)"   # GOPATH entries must be absolute
gopath="$out/gopath"
pkg="$gopath/src/plexusinterop"

# Fresh copy of our sources each time, so deleted files do not linger.
rm -rf "$pkg"
mkdir -p "$gopath/src"
cp -R "$src/plexusinterop" "$pkg"

# Generate the notifier stubs. The proto's go_package names SFTPGo's import
# path; point it at ours. The proto package (and so the gRPC service name
# proto.Notifier on the wire) is unchanged. Empty maps to golang/protobuf's
# ptypes/empty, which matches the 1.3.x runtime (emptypb does not).
mkdir -p "$pkg/notifierpb"
sed 's|^option go_package = .*|option go_package = "plexusinterop/notifierpb;notifierpb";|' \
    "$proto_src" >"$pkg/notifierpb/notifier.proto"
grep -q '^option go_package = "plexusinterop/notifierpb;notifierpb";' "$pkg/notifierpb/notifier.proto" || {
    echo "error: could not set go_package in the copy of $proto_src" >&2
    exit 1
}
(
    cd "$pkg/notifierpb"
    protoc -I . -I "$proto_include" \
        --go_out=plugins=grpc,paths=source_relative,Mgoogle/protobuf/empty.proto=github.com/golang/protobuf/ptypes/empty:. \
        notifier.proto
)

# The ingestion API's stubs, for the plexus-publish client; eventbus.proto
# imports notifier.proto, which maps to the notifierpb package above.
mkdir -p "$pkg/eventbuspb"
cp "$repo/proto/proto/eventbus.proto" "$pkg/eventbuspb/eventbus.proto"
(
    cd "$pkg/eventbuspb"
    protoc -I . -I "$pkg/notifierpb" -I "$proto_include" \
        --go_out=plugins=grpc,paths=source_relative,Mnotifier.proto=plexusinterop/notifierpb,Meventbus.proto=plexusinterop/eventbuspb,Mgoogle/protobuf/empty.proto=github.com/golang/protobuf/ptypes/empty:. \
        eventbus.proto
)

export GO111MODULE=off GOPROXY=off GOFLAGS= GOPATH="$gopath:$sys_gopath"
export GOCACHE="${GOCACHE:-$out/gocache}"

mkdir -p "$out/bin"
for cmd in plexus-goplugin-notifier plexus-gohost plexus-publish; do
    go build -o "$out/bin/$cmd" "plexusinterop/cmd/$cmd"
done

echo "$out/bin/plexus-goplugin-notifier"
echo "$out/bin/plexus-gohost"
echo "$out/bin/plexus-publish"
