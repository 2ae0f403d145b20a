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

# How to call this script again with the same directory.
SELF="bash scripts/try-local.sh"
if [ -n "${CCFS_TRY_DIR:-}" ]; then
    SELF="CCFS_TRY_DIR=$(printf %q "$DIR") $SELF"
fi

# The pid in the pid file, if that process is alive and is a ccfs.
running_pid() {
    [ -f "$PIDFILE" ] || return 1
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" = ccfs ] || return 1
    echo "$pid"
}

stop() {
    local pid stopped=no
    if pid=$(running_pid); then
        kill -TERM "$pid"
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "ccfs (pid $pid) did not stop within 10 s of SIGTERM" >&2
            exit 1
        fi
        stopped=yes
    fi
    if mountpoint -q "$MNT"; then
        # a killed daemon leaves a dead mount behind
        umount -l "$MNT"
        stopped=yes
    fi
    if [ "$stopped" = no ]; then
        echo "ccfs was not running under $DIR (no live ccfs in $PIDFILE, nothing mounted at $MNT)" >&2
        exit 1
    fi
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
    echo "already mounted at $MNT (stop with: $SELF stop)"
    exit 0
fi
node=$(uname -n); node=${node%%.*}
ip=$(hostname -I 2>/dev/null | awk '{print $1}'); ip=${ip:-192.0.2.1}

"$BIN" -l \
    --mount "$MNT" --db "$DIR/config.db" --run-dir "$DIR/run" \
    --lock-file "$DIR/.pmxcfs.lockfile" --pid-file "$PIDFILE" \
    --rrd-dir "$DIR/rrd" --nodename "$node" --node-ip "$ip" \
    --ipc-name ccfs-try --log-file "$DIR/ccfs.log"

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
  logs:        syslog (journalctl -t ccfs, /var/log/syslog); $DIR/ccfs.log when no syslog runs
Try:  ls -la $MNT; echo 'keyboard: en-us' > $MNT/datacenter.cfg; cat $MNT/.version
Stop: $SELF stop
MSG
