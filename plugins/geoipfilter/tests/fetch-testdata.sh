#!/usr/bin/env bash
# Fetches MaxMind's own test databases (Apache-2.0 OR MIT) from the source
# distribution of the PyPI package maxminddb, into DEST (default: the
# workspace's target/testdata/maxmind). Idempotent: does nothing when the
# files are there. The tests call it themselves; CI may call it first.
set -euo pipefail
VERSION=3.2.0
FILES=(GeoIP2-Country-Test.mmdb GeoLite2-Country-Test.mmdb GeoIP2-City-Test.mmdb)
DEST="${1:-$(cd "$(dirname "$0")/../../.." && pwd)/target/testdata/maxmind}"
have=1
for f in "${FILES[@]}"; do [ -s "$DEST/$f" ] || have=0; done
[ "$have" = 1 ] && exit 0
mkdir -p "$DEST"
work="$(mktemp -d "$DEST/.fetch.XXXXXX")"
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --no-binary :all: "maxminddb==$VERSION" -d "$work" >&2
tar -xzf "$work/maxminddb-$VERSION.tar.gz" -C "$work"
for f in "${FILES[@]}"; do
    src="$work/maxminddb-$VERSION/tests/data/test-data/$f"
    [ -s "$src" ] || { echo "fetch-testdata: $f is not in maxminddb-$VERSION" >&2; exit 1; }
    cp "$src" "$work/$f.tmp" && mv -f "$work/$f.tmp" "$DEST/$f"
done
