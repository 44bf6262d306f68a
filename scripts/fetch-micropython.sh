#!/usr/bin/env bash
# Fetch and unpack Debian's micropython source package (pinned, checksummed) under build/.
# The apt source entry reuses the mirror of this machine's own Debian source list.
set -euo pipefail
VERSION=1.25.0+ds-1
ORIG_SHA256=7b25be99a502f070b2de81dafc08da7051d992325d6e67daa9045a918fffdbea
DEST=${1:-build/micropython}
SRC_DIR=build/src
LIST=/etc/apt/sources.list.d/edgemcp-trixie-src.sources

[ -f "$DEST/py/mpconfig.h" ] && exit 0

if [ ! -f "$LIST" ]; then
  mirror=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # first URI of a stanza that is not the security archive
    mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '/^deb / && $0 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' /etc/apt/sources.list)
  fi
  [ -n "$mirror" ] || { echo "fetch-micropython: no Debian mirror found in the apt source list" >&2; exit 1; }
  printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" > "$LIST"
  apt-get update -qq
fi

mkdir -p "$SRC_DIR"
orig="$SRC_DIR/micropython_${VERSION%-*}.orig.tar.xz"
if [ ! -f "$orig" ]; then
  (cd "$SRC_DIR" && apt-get source --download-only "micropython=$VERSION")
fi
echo "$ORIG_SHA256  $orig" | sha256sum -c --quiet - || { echo "fetch-micropython: checksum mismatch for $orig" >&2; exit 1; }
rm -rf "$SRC_DIR/unpacked"
dpkg-source --no-check -x "$SRC_DIR/micropython_$VERSION.dsc" "$SRC_DIR/unpacked" >/dev/null
rm -rf "$DEST"
mv "$SRC_DIR/unpacked" "$DEST"
echo "fetch-micropython: $DEST ready (micropython $VERSION)"
