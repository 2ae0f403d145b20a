#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets from the vectors captured
from the C daemon (../../shared/vectors, see its README).

Run from anywhere: `python3 fuzz/make_seeds.py [VECTORS_DIR]`. It replaces
fuzz/corpus/<target>/ for every target. Captured messages and requests are
copied byte for byte; where a target's input wraps them (a sequence of
events, rows of a database), the wrapping follows the input format of that
target (fuzz/README.md) and the captured bytes go in unchanged, except
where noted below (STATE blobs of the kvstore group are left out of the
event sequences: at 128 KiB each they exceed the event length field; row
data is cut to 512 bytes).
"""

import json
import shutil
import sqlite3
import struct
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
VECTORS = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent.parent / "shared" / "vectors"
CORPUS = HERE / "corpus"

# fuzz/src/lib.rs POOL
POOL = [(1, 24241), (2, 24269), (3, 24297), (2, 25598), (3, 25801)]


def out_dir(target):
    d = CORPUS / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def write(d, name, data):
    (d / name).write_bytes(data)


def db_rows(path):
    """All rows of a config.db, read from a copy (the README says so)."""
    with tempfile.TemporaryDirectory() as tmp:
        for f in path.parent.glob(path.name + "*"):
            shutil.copy(f, Path(tmp) / f.name)
        con = sqlite3.connect(Path(tmp) / path.name)
        rows = con.execute(
            "SELECT inode, parent, version, writer, mtime, type, name, data FROM tree ORDER BY inode"
        ).fetchall()
        con.close()
    return rows


def db_file(path, name):
    for r in db_rows(path):
        if r[6] == name and r[7] is not None:
            return bytes(r[7])
    raise KeyError(name)


# --- dfsm_message: every captured CPG message that is not a log buffer ---


def dfsm_message():
    d = out_dir("dfsm_message")
    for group in ("dcdb", "kvstore"):
        for f in sorted((VECTORS / "dfsm" / group).glob("*.bin")):
            if f.stat().st_size <= 40_000:
                write(d, f"{group}-{f.name}", f.read_bytes())


# --- clusterlog_state: the captured STATE blobs ---


def clusterlog_state():
    d = out_dir("clusterlog_state")
    for name in ("state-node1.bin", "state-node3.bin", "next-state-after-merge.bin"):
        write(d, name, (VECTORS / "clusterlog" / name).read_bytes())


# --- ipc_request: captured requests, some with flags and backend text ---


def ipc_request():
    d = out_dir("ipc_request")
    vm100 = db_file(VECTORS / "db" / "local-rich" / "config.db", "100.conf")
    token = db_file(VECTORS / "db" / "local-rich" / "config.db", "token.cfg")
    for f in sorted((VECTORS / "ipc" / "local").glob("*.req.bin")):
        req = f.read_bytes()
        op = struct.unpack_from("<i", req, 0)[0]
        read_only = f.name.startswith("ro-")
        tail = b""
        if op in (11, 13):
            tail = bytes([int(read_only)]) + vm100
        elif op == 12:
            tail = bytes([int(read_only)]) + token
        elif read_only:
            tail = b"\x01"
        write(d, f.name, req + tail)
    for name in ("client-connection-request.bin", "server-connection-response.bin"):
        write(d, name, (VECTORS / "ipc" / "handshake" / name).read_bytes())


# --- memdb_rows: the rows of every captured database, then a few ops ---


def num(v):
    if 0 <= v < 255:
        return bytes([v])
    return b"\xff" + struct.pack("<q", v)


def row_bytes(r):
    inode, parent, version, writer, mtime, kind, name, data = r
    name = (name or "").encode()[:255]
    out = b"".join(num(v) for v in (inode, parent, version, writer, mtime, kind))
    out += bytes([len(name)]) + name
    if data is None:
        out += b"\x00"
    else:
        data = bytes(data)[:512]
        out += b"\x01" + struct.pack("<H", len(data)) + data
    return out


def short(b):
    return bytes([len(b)]) + b


def op_bytes(kind, path, *rest):
    """fuzz/src/lib.rs op(): 0 write, 1 mkdir, 2 delete, 3 rename, 4 create, 5 mtime."""
    out = bytes([kind]) + short(path.encode())
    if kind == 0:
        offset, truncate, data = rest
        out += bytes([offset, truncate]) + short(data)
    elif kind == 3:
        out += short(rest[0].encode())
    elif kind == 5:
        out += struct.pack("<I", rest[0])
    return out


OPS = b"".join(
    [
        op_bytes(1, "fuzz-dir"),
        op_bytes(4, "fuzz-dir/a.cfg"),
        op_bytes(0, "fuzz-dir/a.cfg", 0, 0, b"hello\n"),
        op_bytes(0, "fuzz-dir/a.cfg", 3, 1, b"p"),
        op_bytes(3, "fuzz-dir/a.cfg", "fuzz-dir/b.cfg"),
        op_bytes(5, "fuzz-dir/b.cfg", 1700000000),
        op_bytes(4, "nodes/node1/qemu-server/555.conf"),
        op_bytes(1, "priv/lock/fuzz"),
        op_bytes(2, "fuzz-dir/b.cfg"),
        op_bytes(2, "fuzz-dir"),
    ]
)


def memdb_rows():
    d = out_dir("memdb_rows")
    dbs = sorted((VECTORS / "db").glob("*/config.db")) + sorted((VECTORS / "db" / "corrupt").glob("*.db"))
    for db in dbs:
        rows = db_rows(db)[:255]
        seed = bytes([len(rows)]) + b"".join(row_bytes(r) for r in rows) + OPS
        write(d, f"{db.parent.name}-{db.stem}", seed)


# --- paths: every path the vectors name, plus odd spellings ---


def paths():
    d = out_dir("paths")
    names = set()
    for m in (VECTORS / "db").glob("*/manifest.json"):
        for e in json.loads(m.read_text())["entries"]:
            names.add(e["path"])
    names |= {
        "/priv//token.cfg",
        "nodes/node1//priv/pve-ssl.key",
        "nodes/./node1/./priv/x",
        "./priv/lock/a/",
        "nodes/n/qemu-server/0100.conf",
        "nodes/a-b/lxc/4294967295.conf",
        "101.mount",
        "vps.premount",
        "a/../b",
        "",
        "/",
    }
    for i, p in enumerate(sorted(names)):
        write(d, f"path-{i:03}", p.encode())


# --- corosync_conf: the cluster's corosync.conf and a cmap node list ---


def corosync_conf():
    d = out_dir("corosync_conf")
    conf = db_file(VECTORS / "db" / "cluster3-node2" / "config.db", "corosync.conf")
    write(d, "cluster3-corosync.conf", conf)
    cmap = "".join(
        f"nodelist.node.{i}.name=node{i + 1}\nnodelist.node.{i}.nodeid:{i + 1}\n"
        f"nodelist.node.{i}.quorum_votes:1\nnodelist.node.{i}.ring0_addr=10.99.72.{i + 1}\n"
        for i in range(3)
    )
    write(d, "cmap-nodelist", (cmap + "totem.config_version:3\n").encode())


# --- dfsm_dcdb / kvstore_node: the captured life cycle as events ---


def member_index(nodeid, pid):
    return POOL.index((nodeid, pid))


def membership_mask(text):
    members = text.split()[0][len("members="):]
    mask = 0
    for m in members.split(","):
        nodeid, pid, _ = m.split("/")
        mask |= 1 << member_index(int(nodeid), int(pid))
    return mask


def sequence(group, subdir, first, joined=None):
    """node1's sequence of events; with `joined` (a POOL index) only from
    the first membership that contains that process."""
    m = json.loads((VECTORS / "dfsm" / "manifest.json").read_text())
    out = bytearray(first)
    started = joined is None
    for r in m["groups"][group]["sequence_seen_by_node1"]:
        if not started:
            if r["event"] != "confchg" or not membership_mask(r["membership"]) & (1 << joined):
                continue
            started = True
        if r["event"] == "confchg":
            out += bytes([1, membership_mask(r["membership"])])
            continue
        data = (VECTORS / "dfsm" / subdir / r["file"]).read_bytes()
        if len(data) > 0xFFFF:
            continue
        s = r["sender"]
        out += bytes([0, member_index(s["nodeid"], s["pid"])]) + struct.pack("<H", len(data)) + data
    return bytes(out)


def dfsm_dcdb():
    d = out_dir("dfsm_dcdb")
    # node1 (POOL[0]), quorate, then everything node1 saw
    write(d, "captured-life-cycle", sequence("pve_dcdb_v1", "dcdb", [0, 2, 1]))
    # the same as the restarted node2 and node3, which joined behind and
    # got UPDATEs (our own tree differs from theirs, so the commit fails)
    write(d, "captured-as-node2b", sequence("pve_dcdb_v1", "dcdb", [3, 2, 1], joined=3))
    write(d, "captured-as-node3b", sequence("pve_dcdb_v1", "dcdb", [4, 2, 1], joined=4))
    # node1 alone: its own writes come back through the loopback
    alone = bytes([0, 2, 1, 1, 0b1])
    writes = [
        op_bytes(1, "fuzz-dir"),
        op_bytes(4, "fuzz-dir/a.cfg"),
        op_bytes(0, "fuzz-dir/a.cfg", 0, 0, b"hello\n"),
        op_bytes(3, "fuzz-dir/a.cfg", "fuzz-dir/b.cfg"),
        op_bytes(2, "fuzz-dir/b.cfg"),
    ]
    for w in writes:
        alone += b"\x04" + w + b"\x03"
    write(d, "alone-writes", alone)
    # node1 with node2: SYNC_START of our own comes back, then the tick
    write(d, "pair-sync", bytes([0, 2, 1, 1, 0b11, 3, 3, 6, 0xff, 0x01]))


def ipc_ring():
    """No ring contents were captured; these are chunks laid out the way
    libqb's client writes them (ipc.md §2.3): length word, commit magic,
    data. One at the start, one wrapping around the end (2048 words)."""
    d = out_dir("ipc_ring")

    def chunk(at_word, msg, words=2048):
        area = bytearray(words * 4)
        cells = [len(msg), 0xA1A1A1A1]
        for i, v in enumerate(cells):
            w = (at_word + i) % words
            area[w * 4:w * 4 + 4] = struct.pack("<I", v)
        start = ((at_word + 2) % words) * 4
        for i, b in enumerate(msg):
            area[(start + i) % len(area)] = b
        return bytes(area)

    req = (VECTORS / "ipc" / "local" / "rw-01-get_fs_version.req.bin").read_bytes()
    big = (VECTORS / "ipc" / "local").glob("rw-*set_status_kv.req.bin")
    big = next(iter(sorted(big))).read_bytes()
    write(d, "chunk-at-0", struct.pack("<HHBHH", 0, 0, 1, 4096, 40) + chunk(0, req))
    write(d, "chunk-wrapping", struct.pack("<HHBHH", 2040, 2040, 2, 4096, 4000) + chunk(2040, big))


def kvstore_node():
    d = out_dir("kvstore_node")
    write(d, "captured-life-cycle", sequence("pve_kvstore_v1", "kvstore", [0]))
    write(d, "captured-as-node2b", sequence("pve_kvstore_v1", "kvstore", [3], joined=3))
    write(d, "alone-set-status", bytes([0, 1, 0b1, 2, 6]) + b"kv/foo" + b"\x04\x00bar\x00" + b"\x03")


if __name__ == "__main__":
    for make in (dfsm_message, clusterlog_state, ipc_request, memdb_rows, paths, corosync_conf, dfsm_dcdb, kvstore_node, ipc_ring):
        make()
    total = sum(f.stat().st_size for f in CORPUS.rglob("*") if f.is_file())
    print(f"seeds written to {CORPUS}: {total} bytes")
