#!/usr/bin/env python3
"""Independent emt archive reader written from SPEC.md alone.

Uses only Python's sqlite3 module and the `zstd` command.  Lists the
captures of an archive, reconstructs every capture's bytes, checks every
chunk hash, every capture hash and the ledger chain, and writes
DIR/<seq>.bin for comparison with the C library's output.

usage: spec_reader.py ARCHIVE OUTDIR
exit status 0 if everything checked out, 1 otherwise.
"""
import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile

U64 = (1 << 64) - 1


def u64(v):
    """SPEC.md "integers": u64 values are stored as the int64 with the same bits."""
    return v & U64


def zstd_decode(frame, base=None):
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "c.zst")
        with open(src, "wb") as f:
            f.write(frame)
        cmd = ["zstd", "-q", "-d", "-c", src]
        if base is not None:
            bp = os.path.join(d, "base")
            with open(bp, "wb") as f:
                f.write(base)
            cmd = ["zstd", "-q", "-d", "-c", "--patch-from=" + bp, src]
        return subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout


def chunk_bytes(db, chunk_id, cache):
    if chunk_id in cache:
        return cache[chunk_id]
    row = db.execute("SELECT hash, size, encoding, base_id, depth, data FROM chunks WHERE id = ?",
                     (chunk_id,)).fetchone()
    if row is None:
        raise ValueError("chunk %d missing" % chunk_id)
    h, size, enc, base_id, depth, data = row
    if enc == "zstd":
        out = zstd_decode(data)
    elif enc == "zstd-delta":
        out = zstd_decode(data, chunk_bytes(db, base_id, cache))
    else:
        raise ValueError("chunk %d: unknown encoding %r" % (chunk_id, enc))
    if len(out) != size or hashlib.sha256(out).digest() != h:
        raise ValueError("chunk %d: size or hash mismatch" % chunk_id)
    cache[chunk_id] = out
    return out


def main():
    arch, outdir = sys.argv[1], sys.argv[2]
    db = sqlite3.connect("file:%s?mode=ro" % arch, uri=True)
    meta = {k: bytes(v).decode("utf-8", "replace") for k, v in db.execute("SELECT key, value FROM meta")}
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    major = db.execute("PRAGMA user_version").fetchone()[0]
    if app_id != 0x454D5431 or major != 1 or meta["format_major"] != "1":
        print("not an emt v1 archive")
        return 1
    ok = True
    prev = bytes(32)
    cache = {}
    n = 0
    for row in db.execute(
            "SELECT seq, region_id, version, pid, tid, trigger_name, prot_before, prot_after,"
            " addr, size, time_ns, chunk_size, nchunks, sha256, ledger FROM captures ORDER BY seq"):
        (seq, region_id, version, pid, tid, trig, pb, pa, addr, size, time_ns, cs, nchunks,
         sha, ledger) = row
        n += 1
        text = "emt-ledger-v1 %d %d %d %d %d %s %d %d %d %d %d %d" % (
            seq, region_id, version, pid, tid, trig, pb, pa, u64(addr), size, u64(time_ns), cs)
        entry = hashlib.sha256(prev + text.encode() + sha).digest()
        if entry != ledger:
            print("capture %d: ledger mismatch" % seq)
            ok = False
        prev = ledger
        parts = []
        ids = db.execute("SELECT idx, chunk_id FROM capture_chunks WHERE seq = ? ORDER BY idx",
                         (seq,)).fetchall()
        if [i for i, _ in ids] != list(range(nchunks)) or nchunks != (size + cs - 1) // cs:
            print("capture %d: chunk list inconsistent" % seq)
            ok = False
            continue
        try:
            for idx, cid in ids:
                b = chunk_bytes(db, cid, cache)
                if len(b) != min(cs, size - idx * cs):
                    raise ValueError("chunk %d: wrong length for its position" % cid)
                parts.append(b)
        except (ValueError, subprocess.CalledProcessError) as e:
            print("capture %d: %s" % (seq, e))
            ok = False
            continue
        data = b"".join(parts)
        if hashlib.sha256(data).digest() != sha:
            print("capture %d: content hash mismatch" % seq)
            ok = False
        with open(os.path.join(outdir, "%d.bin" % seq), "wb") as f:
            f.write(data)
        print("%d %d %s 0x%x %d %s" % (seq, pid, trig, u64(addr), size, sha.hex()))
    if meta.get("sealed") == "1":
        if meta.get("seal_ledger_head") != prev.hex() or int(meta["seal_captures"]) != n:
            print("seal does not match")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
