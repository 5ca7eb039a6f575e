#!/usr/bin/env python3
"""strace_compare.py STRACE_OUT EVENTS_JSON: compares, call for call, the
syscalls `strace -f -qq -v -s 65536 -X raw -o STRACE_OUT` saw with the rows
of the syscalls table (`emt-ls --events --json`) of the same run.

Per thread (the threads strace names), the two sequences of syscall names
are aligned (difflib: a missing or extra row shows as such, the rest stays
aligned); for each aligned pair the return value is compared, and every
argument strace prints as a number or a string is compared with the
recorded one (numbers by value, 32-bit types modulo 2^32; strings byte for
byte, strace's escapes decoded; a string strace cut is compared on its
prefix).  Arguments strace prints as structures, arrays, flags with names
or name=value are not compared (counted as such).  Prints the counts and
every mismatch class with examples; exit 0 if every aligned call matched
and none is missing or extra, 1 otherwise.
"""
import collections
import difflib
import errno
import json
import re
import sys

LINE = re.compile(r"^(\d+)\s+(.*)$")


def parse_strace(path):
    """{tid: [(name, [arg texts], ret text)]} in call order."""
    calls = collections.defaultdict(list)
    pending = {}
    for raw in open(path, encoding="latin-1"):
        raw = raw.rstrip("\n")
        m = LINE.match(raw)
        if not m:
            continue
        tid, rest = int(m.group(1)), m.group(2)
        if rest.startswith("---") or rest.startswith("+++"):
            continue
        if rest.endswith("<unfinished ...>"):
            pending[tid] = rest[: -len("<unfinished ...>")].rstrip()
            calls[tid].append(None)     # keeps its place in call order
            continue
        mres = re.match(r"^<\.\.\. (\w+) resumed>(.*)$", rest)
        slot = None
        if mres:
            if tid not in pending:
                continue
            rest = pending.pop(tid) + mres.group(2)
            slot = max(i for i, c in enumerate(calls[tid]) if c is None)
        call = split_call(rest)
        if not call:
            continue
        if slot is None:
            calls[tid].append(call)
        else:
            calls[tid][slot] = call
    for tid, text in pending.items():   # never resumed: never returned
        call = split_call(text + ") = ?")
        slot = max(i for i, c in enumerate(calls[tid]) if c is None)
        calls[tid][slot] = call
    return {t: [c for c in v if c] for t, v in calls.items()}


def split_call(text):
    m = re.match(r"^(\w+)\((.*)$", text)
    if not m:
        return None
    name, rest = m.group(1), m.group(2)
    # The argument list ends at the ')' that closes it, outside strings.
    depth, i, q = 0, 0, False
    while i < len(rest):
        c = rest[i]
        if q:
            if c == "\\":
                i += 1
            elif c == '"':
                q = False
        elif c == '"':
            q = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            if depth == 0:
                break
            depth -= 1
        i += 1
    args_text, tail = rest[:i], rest[i + 1:]
    m = re.match(r"^\s*=\s*(\S+)", tail)
    ret = m.group(1) if m else "?"
    if ret == "-1":
        me = re.match(r"^\s*=\s*-1\s+(E[A-Z0-9]+)", tail)
        if me and hasattr(errno, me.group(1)):
            ret = str(-getattr(errno, me.group(1)))
        elif me:
            ret = "errno:" + me.group(1)
    return (name, split_args(args_text), ret)


def split_args(s):
    out, depth, q, cur, i = [], 0, False, "", 0
    while i < len(s):
        c = s[i]
        if q:
            cur += c
            if c == "\\" and i + 1 < len(s):
                cur += s[i + 1]
                i += 1
            elif c == '"':
                q = False
        elif c == '"':
            q = True
            cur += c
        elif c in "([{":
            depth += 1
            cur += c
        elif c in ")]}":
            depth -= 1
            cur += c
        elif c == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    if cur.strip():
        out.append(cur.strip())
    return out


ESC = {"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, "\\": 92, '"': 34, "a": 7, "b": 8, "e": 27}


def unescape(s):
    """strace's quoted string body -> bytes."""
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("latin-1")
            i += 1
            continue
        n = s[i + 1]
        if n == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif n in "01234567":
            j = i + 1
            while j < len(s) and j < i + 4 and s[j] in "01234567":
                j += 1
            out.append(int(s[i + 1:j], 8) & 0xFF)
            i = j
        else:
            out.append(ESC.get(n, ord(n)))
            i += 2
    return bytes(out)


def strace_value(a):
    """('num', int) | ('str', bytes, cut) | None (not compared)."""
    if a == "NULL":
        return ("num", 0)
    if re.fullmatch(r"-?(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)", a):
        return ("num", int(a, 0) if not re.fullmatch(r"-?0[0-7]+", a) else int(a, 8))
    m = re.fullmatch(r'"(.*)"(\.\.\.)?', a, re.S)
    if m:
        return ("str", unescape(m.group(1)), bool(m.group(2)))
    return None


def ret_value(r):
    if r == "?":
        return None
    try:
        return int(r, 0)
    except ValueError:
        return r


# The kernel names these after their implementation; strace (and the
# UAPI header) after the call.
ALIAS = {"newuname": "uname", "newstat": "stat", "newfstat": "fstat", "newlstat": "lstat",
         "sendfile64": "sendfile", "umount": "umount2"}


def load_rows(path):
    rows = collections.defaultdict(list)
    for line in open(path, encoding="utf-8"):
        o = json.loads(line)
        if o.get("source") == "syscalls":
            o["a"] = json.loads(o["args"])
            o["syscall"] = ALIAS.get(o["syscall"], o["syscall"])
            rows[o["tid"]].append(o)
    for v in rows.values():
        v.sort(key=lambda o: o["id"])
    return rows


def num_of(a):
    v = a.get("value")
    if isinstance(v, str):
        return int(v, 16)
    return v


def compare_args(sargs, ours, stats, examples, ctx):
    ok = True
    for i, sa in enumerate(sargs):
        sv = strace_value(sa)
        if sv is None or i >= len(ours):
            stats["args not compared (structures, arrays, named)"] += 1
            continue
        a = ours[i]
        if sv[0] == "num":
            v = num_of(a)
            if v is None:
                stats["args not compared (entry lost)"] += 1
                continue
            # 32-bit types, and descriptors the kernel takes as unsigned
            # long but uses as int (mmap's fd: -1 arrives as 0xffffffff).
            bits = 32 if a.get("type") in ("int", "unsigned int", "umode_t", "pid_t",
                                            "uid_t", "gid_t") or a.get("name") == "fd" else 64
            if (v - sv[1]) % (1 << bits) == 0:
                stats["args compared: numbers equal"] += 1
            else:
                ok = False
                stats["MISMATCH arg number"] += 1
                examples["MISMATCH arg number"].append("%s arg %d: strace %s, ours %s" % (ctx, i, sa, v))
            continue
        # A string: ours must hold the same bytes (a buffer's as hex).
        if "hex" in a:
            a = dict(a, str=bytes.fromhex(a["hex"]).decode("latin-1"))
        if "str" not in a:
            why = "unreadable" if "unreadable" in a else "noroom" if a.get("noroom") else "no string"
            if sv[1] == b"" and num_of(a) == 0:
                continue
            ok = False
            k = "MISMATCH string not recorded (%s)" % why
            stats[k] += 1
            examples[k].append("%s arg %d: strace %s" % (ctx, i, sa[:60]))
            continue
        mine = a["str"].encode("latin-1")
        if a.get("cut") or sv[2]:
            # Cut short by either side: the common prefix.
            n = min(len(mine), len(sv[1]))
            same = mine[:n] == sv[1][:n] and (len(mine) >= len(sv[1]) or a.get("cut"))
            if same:
                stats["args compared: strings equal up to the shorter bound (cut short)"] += 1
                continue
        elif mine == sv[1] + b"\0" and ours[i].get("hex") is not None:
            # A buffer whose length counts its NUL (getcwd's return).
            stats["args compared: buffers equal with their NUL"] += 1
            continue
        else:
            same = mine == sv[1]
        if same:
            stats["args compared: strings equal"] += 1
        else:
            ok = False
            stats["MISMATCH string bytes"] += 1
            examples["MISMATCH string bytes"].append("%s arg %d: strace %r ours %r" %
                                                     (ctx, i, sv[1][:40], mine[:40]))
    return ok


def main():
    st = parse_strace(sys.argv[1])
    rows = load_rows(sys.argv[2])
    stats = collections.Counter()
    examples = collections.defaultdict(list)
    for tid, scalls in sorted(st.items()):
        ours = rows.get(tid, [])
        a = [c[0] for c in scalls]
        b = [r["syscall"] for r in ours]
        # Rows before strace's first call of the thread (its child before
        # the execve strace starts with) are not strace's to see.
        sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
        first_b = None
        for tag, i1, i2, j1, j2 in sm.get_opcodes():
            if tag == "equal":
                if first_b is None:
                    first_b = j1 - i1
                for k in range(i2 - i1):
                    sc, r = scalls[i1 + k], ours[j1 + k]
                    stats["calls aligned"] += 1
                    ctx = "tid %d %s" % (tid, sc[0])
                    okr = True
                    sret = ret_value(sc[2])
                    if sc[0] == "rt_sigreturn" and not r["returned"]:
                        # Its exit tracepoint never fires: the restored
                        # frame's orig_ax is -1 (README).
                        stats["KNOWN rt_sigreturn: no exit tracepoint, return unknown"] += 1
                        okr = True
                    elif sret is None:
                        okr = not r["returned"]
                    elif isinstance(sret, str):
                        okr = False
                    else:
                        okr = r["returned"] and (r["ret"] - sret) % (1 << 64) == 0
                    if not okr:
                        stats["MISMATCH return"] += 1
                        examples["MISMATCH return"].append("%s: strace %s ours %s%s" % (
                            ctx, sc[2], r["ret"], "" if r["returned"] else " (not returned)"))
                    oka = compare_args(sc[1], r["a"], stats, examples, ctx)
                    stats["calls matched (name, return, compared args)" if okr and oka
                          else "calls with a mismatch"] += 1
            else:
                if tag in ("delete", "replace"):
                    stats["MISSING calls strace saw, not recorded"] += i2 - i1
                    examples["MISSING calls strace saw, not recorded"].append(
                        "tid %d: %s" % (tid, " ".join(a[i1:i2])[:120]))
                if tag in ("insert", "replace"):
                    # Leading rows of the thread before strace's view begins.
                    if first_b is None and i1 == 0:
                        stats["rows before strace's first call of the thread"] += j2 - j1
                    else:
                        stats["EXTRA rows strace did not show"] += j2 - j1
                        examples["EXTRA rows strace did not show"].append(
                            "tid %d: %s" % (tid, " ".join(b[j1:j2])[:120]))
    stats["strace calls"] = sum(len(v) for v in st.values())
    stats["strace threads"] = len(st)
    bad = 0
    for k in sorted(stats):
        print("%-62s %d" % (k, stats[k]))
        if k.startswith(("MISMATCH", "MISSING", "EXTRA")):
            bad += stats[k]
            for e in examples[k][:5]:
                print("    e.g. " + e)
    print("result: %s" % ("all aligned calls match" if not bad else "%d differences" % bad))
    return 1 if bad else 0


sys.exit(main())
