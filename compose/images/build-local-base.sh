#!/usr/bin/env bash
# Builds local/debian:SUITE (bookworm by default; trixie for Mastodon built from source) with
# debootstrap + docker import, for machines that can reach Debian's mirror but no container registry.
# Every offline image is built FROM one of these (BASE build argument).
#   usage: build-local-base.sh [TAG]   (TAG is local/debian:bookworm or local/debian:trixie)
set -euo pipefail
TAG="${1:-local/debian:bookworm}"
SUITE="${TAG##*:}"
case "$SUITE" in bookworm|trixie) ;; *) echo "unsupported base $TAG: use local/debian:bookworm or local/debian:trixie" >&2; exit 2;; esac
if docker image inspect "$TAG" >/dev/null 2>&1; then echo "base image $TAG present"; exit 0; fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
# The machine's own Debian mirror: the first "URIs:" (deb822) or "deb" line that is not security.
mirror_from_apt() {
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
    | sed -nE 's/^URIs:[[:space:]]*([^[:space:]]+).*/\1/p; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' \
    | grep -v security | head -n 1 || true
}
MIRROR="${DEBIAN_MIRROR:-$(mirror_from_apt)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
ROOTFS="$(mktemp -d)"
trap 'rm -rf "$ROOTFS"' EXIT
echo "debootstrap $SUITE from $MIRROR (about 40 s)"
# A bookworm host's debootstrap may not know trixie yet: it bootstraps trixie as it does bookworm.
SCRIPT=""
[ -e "/usr/share/debootstrap/scripts/$SUITE" ] || SCRIPT=/usr/share/debootstrap/scripts/bookworm
debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$MIRROR" $SCRIPT >/dev/null
echo "deb $MIRROR $SUITE-updates main" >> "$ROOTFS/etc/apt/sources.list"
tar -C "$ROOTFS" --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/*' -c . \
  | docker import -c 'CMD ["bash"]' - "$TAG" >/dev/null
echo "built $TAG"
