#!/usr/bin/env bash
# Try ccfs on this machine: installs the packages it needs, builds it, and
# runs a local-mode node (no cluster) on a fresh database.
#
#   bash scripts/try-local.sh          install, build, start
#   bash scripts/try-local.sh stop     stop it again (unmounts)
#
# Everything lives under $CCFS_TRY_DIR (default /var/lib/ccfs-try); nothing
# touches /etc/pve or a real pmxcfs database.
set -euo pipefail

cd "$(dirname "$0")/.."
DIR=${CCFS_TRY_DIR:-/var/lib/ccfs-try}
MNT=$DIR/mnt
PIDFILE=$DIR/ccfs.pid

if [ "$(id -u)" != 0 ]; then
    echo "run as root (FUSE mount with allow_other)" >&2
    exit 1
fi

stop() {
    if [ -f "$PIDFILE" ]; then
        pid=$(cat "$PIDFILE")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
    fi
    if mountpoint -q "$MNT"; then umount -l "$MNT"; fi
    echo "ccfs stopped; data kept in $DIR/config.db"
}

if [ "${1:-}" = stop ]; then
    stop
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
    corosync libcpg-dev libcfg-dev libcmap-dev libquorum-dev libvotequorum-dev \
    libcorosync-common-dev libqb-dev fuse3 libfuse3-dev libsqlite3-dev sqlite3 \
    pkg-config clang libclang-dev >/dev/null
getent group www-data >/dev/null || groupadd --system www-data

cargo build --release -p ccfs
BIN=${CARGO_TARGET_DIR:-target}/release/ccfs

mkdir -p "$DIR" "$MNT" "$DIR/run" "$DIR/rrd"
if mountpoint -q "$MNT"; then
    echo "already mounted at $MNT (stop with: bash scripts/try-local.sh stop)"
    exit 0
fi
node=$(uname -n); node=${node%%.*}
ip=$(hostname -I 2>/dev/null | awk '{print $1}'); ip=${ip:-192.0.2.1}

"$BIN" -l \
    --mount "$MNT" --db "$DIR/config.db" --run-dir "$DIR/run" \
    --lock-file "$DIR/.pmxcfs.lockfile" --pid-file "$PIDFILE" \
    --rrd-dir "$DIR/rrd" --nodename "$node" --node-ip "$ip" \
    --ipc-name ccfs-try

for _ in $(seq 50); do
    mountpoint -q "$MNT" && break
    sleep 0.2
done
if ! mountpoint -q "$MNT"; then
    echo "ccfs did not mount $MNT" >&2
    exit 1
fi
cat <<MSG
ccfs is running (pid $(cat "$PIDFILE")), local mode, node '$node'.
  mount point: $MNT
  database:    $DIR/config.db
Try:  ls -la $MNT; echo 'keyboard: en-us' > $MNT/datacenter.cfg; cat $MNT/.version
Stop: bash scripts/try-local.sh stop
MSG
