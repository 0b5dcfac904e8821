#!/usr/bin/env bash
# Build the benchmark archives into bench/images/ (gitignored).
#
#   base     minimal Debian bookworm (mmdebstrap --variant=minbase), one layer
#   classic  base + vim-tiny, then nginx-light, then apt lists removed
#   bloated  base + JRE + python3-scipy + build-essential, chmod -R layer, deleted caches,
#            a purged package, a 50 MB blob copied then deleted
#   big      generated: 500,000 entries over 10 layers (bench/make_big.py)
#
# Each real image is saved twice: NAME.docker.tar (docker-archive, uncompressed layers) and
# NAME.oci.tar (oci-archive, gzip layers). Idempotent: an archive that exists is not rebuilt
# (delete it, or pass --force, to rebuild). Timings are appended to bench/out/build_times.log.
#
# Needs root, mmdebstrap, buildah (chroot isolation) and python3.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
IMAGES="$HERE/images"
OUT="$HERE/out"
SUITE=bookworm
FORCE=0
SKIP_BIG=0
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        --no-big) SKIP_BIG=1 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done

export BUILDAH_ISOLATION=chroot
mkdir -p "$IMAGES" "$OUT"
LOG="$OUT/build_times.log"

now() { date +%s.%N; }
record() {  # record STEP START
    local secs
    secs=$(awk -v a="$2" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    printf '%s\t%s\t%ss\n' "$(date -Is)" "$1" "$secs" | tee -a "$LOG"
}

# The Debian mirror this machine's apt uses (first URIs:/deb line), else deb.debian.org.
mirror() {
    local m=""
    if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
        m=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ { print $2; exit }' /etc/apt/sources.list.d/*.sources)
    fi
    if [[ -z "$m" && -f /etc/apt/sources.list ]]; then
        m=$(awk '/^deb / && $0 ~ /debian\/? / { for (i = 2; i <= NF; i++) if ($i ~ /^http/) { print $i; exit } }' /etc/apt/sources.list)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

have_archives() { [[ $FORCE == 0 && -s "$IMAGES/$1.docker.tar" && -s "$IMAGES/$1.oci.tar" ]]; }

image_exists() { buildah inspect --type image "$1" >/dev/null 2>&1; }

save() {  # save NAME: docker-archive (uncompressed) + oci-archive (gzip)
    local name=$1 ref="localhost/lsbench/$1:latest" t0
    t0=$(now)
    rm -f "$IMAGES/$name.docker.tar.tmp" "$IMAGES/$name.oci.tar.tmp"
    buildah push --quiet --format v2s2 "$ref" "docker-archive:$IMAGES/$name.docker.tar.tmp:lsbench/$name:latest"
    mv "$IMAGES/$name.docker.tar.tmp" "$IMAGES/$name.docker.tar"
    buildah push --quiet --format oci --compression-format gzip "$ref" \
        "oci-archive:$IMAGES/$name.oci.tar.tmp:lsbench/$name:latest"
    mv "$IMAGES/$name.oci.tar.tmp" "$IMAGES/$name.oci.tar"
    record "save $name (docker-archive + oci-archive)" "$t0"
}

build() {  # build NAME: buildah bud from bench/Containerfile.NAME, context bench/images
    local name=$1 t0
    if have_archives "$name"; then
        echo "== $name: archives exist, skipped"
        return
    fi
    if [[ $FORCE == 1 ]] || ! image_exists "localhost/lsbench/$name:latest"; then
        t0=$(now)
        buildah bud --layers --quiet -f "$HERE/Containerfile.$name" -t "localhost/lsbench/$name:latest" "$IMAGES"
        record "build $name" "$t0"
    fi
    save "$name"
}

T_ALL=$(now)

# 1. rootfs with mmdebstrap
if [[ $FORCE == 1 || ! -s "$IMAGES/rootfs.tar" ]]; then
    t0=$(now)
    MIRROR=$(mirror)
    echo "== mmdebstrap $SUITE (minbase) from $MIRROR"
    mmdebstrap --quiet --variant=minbase --skip=output/dev --format=tar \
        "$SUITE" "$IMAGES/rootfs.tar.tmp" "$MIRROR"
    mv "$IMAGES/rootfs.tar.tmp" "$IMAGES/rootfs.tar"
    record "mmdebstrap rootfs" "$t0"
    FORCE_BASE=1
else
    FORCE_BASE=0
fi

# 2. the 50 MB blob for the bloated image (random, so it does not compress)
if [[ ! -s "$IMAGES/blob50m.bin" ]]; then
    head -c 50M /dev/urandom > "$IMAGES/blob50m.bin"
fi

# 3. base (imported rootfs), classic, bloated
if [[ $FORCE_BASE == 1 ]] && image_exists localhost/lsbench/base:latest; then
    buildah rmi --force localhost/lsbench/base:latest >/dev/null 2>&1 || true
fi
build base
build classic
build bloated

# 4. the generated 500,000-entry image
if [[ $SKIP_BIG == 0 ]]; then
    if [[ $FORCE == 1 || ! -s "$IMAGES/big.docker.tar" || ! -s "$IMAGES/big.oci.tar" ]]; then
        t0=$(now)
        python3 "$HERE/make_big.py" --out "$IMAGES/big.docker.tar"
        record "make_big (500k entries)" "$t0"
    else
        echo "== big: archive exists, skipped"
    fi
fi

record "all" "$T_ALL"
ls -l "$IMAGES"/*.tar
