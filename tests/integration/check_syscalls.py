#!/usr/bin/env python3
"""check_syscalls.py TRUTH EVENTS_JSON: the fixture fx_syscalls's calls
(its EMT-SYSCALL lines in TRUTH) against the recorded syscalls of
`emt-ls --events --json` (EVENTS_JSON).  Every call of the fixture must be
a row of its thread with the same name, return value and arguments, the
strings and socket addresses byte for byte.  Prints one PASS/FAIL line
per call (tests/integration/lib.sh protocol); exits 0.

JSON strings of the archive map each byte to one code point (SPEC.md
5.11), so bytes are recovered with .encode('latin-1')."""
import json
import sys

MODE = sys.argv[3] if len(sys.argv) > 3 else "bpf"


def truth(path):
    for line in open(path, "rb").read().decode("latin-1").splitlines():
        if not line.startswith("EMT-SYSCALL "):
            continue
        kv = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
        yield kv


def rows(path):
    out = []
    for line in open(path, encoding="utf-8"):
        o = json.loads(line)
        if o.get("source") != "syscalls":
            continue
        o["a"] = json.loads(o["args"])
        out.append(o)
    return out


def b(s):
    return s.encode("latin-1")


def arg(r, name):
    for a in r["a"]:
        if a["name"] == name:
            return a
    return {}


def matches(t, r):
    """'' if row r is call t, else why not."""
    call = t["call"]
    if r["syscall"] != call:
        return "name"
    if not r["returned"] or r["ret"] != int(t["ret"]):
        return "ret %s returned %s" % (r["ret"], r["returned"])
    if call == "openat" and "path_hex" in t:
        a = arg(r, "filename")
        if b(a.get("str", "")) != bytes.fromhex(t["path_hex"]) or a.get("cut"):
            return "path %r" % a.get("str")
        if arg(r, "flags").get("value") != int(t["flags"]) or arg(r, "mode").get("value") != 384:
            return "flags/mode"
    elif call == "openat":
        a = arg(r, "filename")
        s = b(a.get("str", ""))
        if not a.get("cut") or len(s) != 4095 or s != b"/" + b"a" * 4094:
            return "long path not cut short at 4095 bytes: cut=%s len=%d" % (a.get("cut"), len(s))
        if not r["flags"] & 1:
            return "row flag cut"
    elif call == "write":
        if arg(r, "fd").get("value") != int(t["fd"]):
            return "fd"
        if arg(r, "buf").get("hex") != t["data_hex"]:
            return "buffer %r" % arg(r, "buf").get("hex")
    elif call in ("connect", "accept"):
        sa = arg(r, "uservaddr" if call == "connect" else "upeer_sockaddr").get("sockaddr", {})
        if t["family"] == "inet":
            if sa.get("family") != "AF_INET" or sa.get("addr") != t["addr"] or \
               sa.get("port") != int(t["port"]):
                return "sockaddr %r" % sa
        else:
            if sa.get("family") != "AF_UNIX" or b(sa.get("path", "")) != bytes.fromhex(t["path_hex"]):
                return "sockaddr %r" % sa
    elif call == "memfd_create":
        if b(arg(r, "uname").get("str", "")) != bytes.fromhex(t["name_hex"]):
            return "name %r" % arg(r, "uname")
    elif call == "execve":
        if b(arg(r, "filename").get("str", "")) != b(t["path"]):
            return "filename"
        want = [bytes.fromhex(h) for h in t["argv_hex"].split(",")]
        got = [b(s) for s in arg(r, "argv").get("strv", [])]
        if got != want:
            return "argv %r" % got
        if [b(s) for s in arg(r, "envp").get("strv", [])] != [b"EMT_FX=1"]:
            return "envp"
    return ""


def main():
    calls = list(truth(sys.argv[1]))
    recorded = rows(sys.argv[2])
    if len(calls) < 8:
        print("FAIL: syscalls %s: fixture printed %d calls, want 8" % (MODE, len(calls)))
        return
    for t in calls:
        tid = int(t["tid"])
        mine = [r for r in recorded if r["tid"] == tid and r["syscall"] == t["call"]]
        why = [matches(t, r) for r in mine]
        label = "syscalls %s: %s %s" % (MODE, t["call"], t.get("family", t.get("len", "")))
        if "" in why:
            print("PASS: %s recorded as called" % label)
        else:
            print("FAIL: %s: no matching row among %d (%s)" % (label, len(mine), "; ".join(why)[:300]))
    # Per thread, rows in id order are in call order: entry times rise.
    last = {}
    bad = 0
    for r in sorted(recorded, key=lambda r: r["id"]):
        if r["tid"] in last and r["boottime_ns"] < last[r["tid"]]:
            bad += 1
        last[r["tid"]] = r["boottime_ns"]
    print("%s: syscalls %s: per-thread id order is call order (%d rows, %d out of order)"
          % ("FAIL" if bad else "PASS", MODE, len(recorded), bad))


main()
