#!/usr/bin/env python3
"""Independent emt archive reader written from SPEC.md alone.

Uses only Python's sqlite3 module and the `zstd` command.  Lists the
captures of an archive, reconstructs every capture's bytes, checks every
chunk hash, every capture hash, the ledger chain (ledger-v1 or ledger-v2)
and the seal, and writes DIR/<seq>.bin for comparison with the C
library's output.  A signed archive's seal signature and checkpoints
(SPEC.md section 10.2) are checked with the `openssl` command.  An archive with a WAL beside it (a crashed writer) is
read from a private copy, as SPEC.md section 12 says.

usage: spec_reader.py ARCHIVE OUTDIR
       spec_reader.py --signature ARCHIVE [TRUSTED.pem]
         (signature only; prints one summary line)
exit status 0 if everything checked out, 1 otherwise.
"""
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import urllib.parse

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
    enc = enc.decode() if isinstance(enc, bytes) else enc
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


def field(v):
    """SPEC.md section 9, row lines: integers as unsigned decimal, TEXT and
    BLOB as the hex SHA-256 of their bytes, NULL as '-'."""
    if v is None:
        return "-"
    if isinstance(v, int):
        return str(u64(v))
    if isinstance(v, str):
        v = v.encode("utf-8", "surrogateescape")
    if isinstance(v, (bytes, bytearray, memoryview)):
        return hashlib.sha256(bytes(v)).hexdigest()
    return "?"


def rows_digest(db, sql, args=()):
    h = hashlib.sha256()
    for row in db.execute(sql, args):
        h.update((" ".join(field(x) for x in row) + "\n").encode())
    return h.hexdigest()


SEAL_TABLES = [
    ("seal_meta_sha256", "SELECT key, value FROM meta WHERE key <> 'sealed'"
     " AND substr(key, 1, 5) <> 'seal_' ORDER BY key"),
    ("seal_processes_sha256", "SELECT id, pid, ppid, start_ns, exit_ns, exit_status, has_exit,"
     " exe, cmdline FROM processes ORDER BY id"),
    ("seal_regions_sha256", "SELECT id, process_id, pid, backing, start, length, created_ns,"
     " gone_ns, path, inode, dev, offset, prot FROM regions ORDER BY id"),
    ("seal_events_sha256", "SELECT id, time_ns, pid, tid, syscall, addr, len, prot, flags, fd,"
     " ret, seq, detail FROM events ORDER BY id"),
    ("seal_losses_sha256", "SELECT id, kind, pid, count, first_ns, last_ns FROM losses ORDER BY id"),
]


def ledger_text_v2(db, seq, region_id, version, pid, tid, trig, pb, pa, addr, size, time_ns, cs):
    gaps = rows_digest(db, "SELECT offset, length, reason, err FROM gaps WHERE seq = ?"
                       " ORDER BY offset", (seq,))
    regs = rows_digest(db, "SELECT arch, data FROM regs WHERE seq = ?", (seq,))
    region = rows_digest(db, "SELECT process_id, pid, backing, start, length, created_ns, path,"
                         " inode, dev, offset, prot FROM regions WHERE id = ?", (region_id,))
    proc = rows_digest(db, "SELECT pid, ppid, start_ns, exe, cmdline FROM processes"
                       " WHERE id = (SELECT process_id FROM regions WHERE id = ?)", (region_id,))
    ints = [u64(x) for x in (seq, region_id, version, pid, tid)]
    rest = [u64(x) for x in (pb, pa, addr, size, time_ns, cs)]
    return "emt-ledger-v2 %d %d %d %d %d %s %d %d %d %d %d %d %s %s %s %s" % (
        *ints, trig.decode("utf-8", "replace"), *rest, gaps, regs, region, proc)


def ed25519_verify(pub_pem_path, text, sig):
    """SPEC.md 10.2: `openssl pkeyutl -verify -rawin`, pure Ed25519."""
    with tempfile.TemporaryDirectory() as d:
        tp, sp = os.path.join(d, "t"), os.path.join(d, "s")
        with open(tp, "wb") as f:
            f.write(text)
        with open(sp, "wb") as f:
            f.write(sig)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub_pem_path,
                            "-rawin", "-in", tp, "-sigfile", sp],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return r.returncode == 0


def fingerprint(pub_pem_path):
    der = subprocess.run(["openssl", "pkey", "-pubin", "-in", pub_pem_path, "-outform", "DER"],
                         check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    return hashlib.sha256(der).hexdigest()


def check_signature(db, meta, trusted=None):
    """SPEC.md section 10.2.  Returns (problems, summary line)."""
    problems = []
    fp = meta.get("sign_key_sha256")
    if fp is None:
        if "signature-v1" in meta.get("features_optional", "").split(","):
            problems.append("signature: feature named, signing meta missing")
        return problems, "unsigned"
    with tempfile.TemporaryDirectory() as d:
        key = trusted
        if key is None:
            key = os.path.join(d, "stored.pem")
            with open(key, "w") as f:
                f.write(meta.get("sign_public_key", ""))
        try:
            kfp = fingerprint(key)
        except subprocess.CalledProcessError:
            return problems + ["signature: the public key is not a PEM public key"], "invalid"
        if kfp != fp or meta.get("sign_algorithm") != "ed25519":
            return problems + ["signature: archive names key %s, not %s" % (fp, kfp)], "invalid"
        prev, last_seq, valid, covered, last_meta = bytes(32), 0, 0, 0, None
        ledgers = dict(db.execute("SELECT seq, ledger FROM captures"))
        broken = False
        for cid, seq, ledger, t, m, pv, sig in db.execute(
                "SELECT id, seq, ledger, time_ns, meta_sha256, prev, signature"
                " FROM checkpoints ORDER BY id"):
            text = ("emt-checkpoint-v1 %d %d %s %d %s %s %s" % (
                cid, seq, ledger.hex(), u64(t), m.hex(), pv.hex(), fp)).encode()
            good = (cid == valid + 1 and pv == prev and seq >= last_seq and
                    (ledgers.get(seq) == ledger if seq else ledger == bytes(32)) and
                    ed25519_verify(key, text, sig))
            if not good:
                problems.append("checkpoint %d: does not verify or chain" % cid)
                broken = True
            elif not broken:
                valid, covered, last_seq, last_meta = cid, seq, seq, m
            prev = hashlib.sha256(text).digest()
        if meta.get("sealed") == "1":
            text = ("emt-signature-v1 %s %s" % (meta.get("seal_sha256", ""), fp)).encode()
            try:
                sig = bytes.fromhex(meta.get("seal_signature", ""))
            except ValueError:
                sig = b""
            if len(sig) != 64 or not ed25519_verify(key, text, sig):
                problems.append("signature: the seal's signature does not verify")
            return problems, "%s sealed, %d checkpoints" % (
                "invalid" if problems else "valid", valid)
    # The writer commits nothing without a checkpoint: what the last one
    # does not cover was added or changed after it.
    if covered < len(ledgers):
        problems.append("signature: captures %d-%d covered by no checkpoint" % (
            covered + 1, len(ledgers)))
    if last_meta is not None and rows_digest(db, SEAL_TABLES[0][1]) != last_meta.hex():
        problems.append("signature: meta changed after the last checkpoint")
    return problems, "%s unsealed, %d checkpoints, %d of %d captures covered" % (
        "invalid" if problems else "valid", valid, covered, len(ledgers))


def open_archive(arch, tmp):
    """SPEC.md section 12: with a WAL beside it (a crashed writer), copy both
    files to a private directory and open the copy, so that nothing (WAL
    replay, a -shm file) touches the evidence; without one, open it
    immutable."""
    wal = arch + "-wal"
    if os.path.exists(wal) and os.path.getsize(wal) > 0:
        dst = os.path.join(tmp, "copy.emt")
        shutil.copyfile(arch, dst)
        shutil.copyfile(wal, dst + "-wal")
        return sqlite3.connect(dst)
    return sqlite3.connect("file:%s?immutable=1" % urllib.parse.quote(arch), uri=True)


def main():
    if sys.argv[1] == "--signature":
        with tempfile.TemporaryDirectory() as tmp:
            db = open_archive(sys.argv[2], tmp)
            db.text_factory = bytes
            meta = {k.decode(): bytes(v).decode("utf-8", "replace")
                    for k, v in db.execute("SELECT key, value FROM meta")}
            problems, line = check_signature(db, meta,
                                             sys.argv[3] if len(sys.argv) > 3 else None)
            for p in problems:
                print(p)
            print(line)
            return 1 if problems else 0
    arch, outdir = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        return check(open_archive(arch, tmp), outdir)


def check(db, outdir):
    db.text_factory = bytes
    meta = {k.decode(): bytes(v).decode("utf-8", "replace")
            for k, v in db.execute("SELECT key, value FROM meta")}
    app_id = db.execute("PRAGMA application_id").fetchone()[0]
    major = db.execute("PRAGMA user_version").fetchone()[0]
    if app_id != 0x454D5431 or major != 1 or meta["format_major"] != "1":
        print("not an emt v1 archive")
        return 1
    features = meta.get("features_required", "").split(",")
    for f in features:
        if f and f not in ("zstd", "zstd-delta", "ledger-v1", "ledger-v2"):
            print("unknown required feature %r" % f)
            return 1
    v2 = "ledger-v2" in features
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
        if seq != n:
            print("capture %d: sequence gap" % seq)
            ok = False
        if v2:
            text = ledger_text_v2(db, seq, region_id, version, pid, tid, trig, pb, pa, addr,
                                  size, time_ns, cs)
        else:
            text = "emt-ledger-v1 %d %d %d %d %d %s %d %d %d %d %d %d" % (
                seq, region_id, version, pid, tid, trig.decode(), pb, pa, u64(addr), size,
                u64(time_ns), cs)
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
        print("%d %d %s 0x%x %d %s" % (seq, pid, trig.decode(), u64(addr), size, sha.hex()))
    if meta.get("sealed") == "1":
        if meta.get("seal_ledger_head") != prev.hex() or int(meta["seal_captures"]) != n:
            print("seal does not match")
            ok = False
        if v2:
            digests = []
            for key, sql in SEAL_TABLES:
                d = rows_digest(db, sql)
                digests.append(d)
                if meta.get(key) != d:
                    print("seal: %s does not match" % key)
                    ok = False
            text = "emt-seal-v2 %d %s %s" % (n, prev.hex(), " ".join(digests))
            if meta.get("seal_sha256") != hashlib.sha256(text.encode()).hexdigest():
                print("seal: seal_sha256 does not match")
                ok = False
    problems, _ = check_signature(db, meta)
    for p in problems:
        print(p)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
