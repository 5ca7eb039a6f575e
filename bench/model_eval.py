#!/usr/bin/env python3
"""model_eval.py - the evaluation of syscall models (bench_model_eval.sh).

1. Benign programs from Debian: learn on LEARN runs of each with varied
   inputs, captured with `emt-capture --syscalls all` (models learned from
   those archives by emt-learn, depth 1, 2 and 3); then TEST other benign
   runs of each under `emt-capture --model`: alerts per run (all false).
2. fixtures/fx_takeover: learned from LEARN benign runs (varied rounds and
   inputs), then each shellcode kind after benign rounds, REPS times per
   depth, captured with --model (and --syscalls for the few calls that
   time the first foreign one): detection, the delay from the first
   foreign syscall to the first alert, whether a capture of that alert
   holds the shellcode page byte for byte (emt-extract against the
   fixture's SHA-256), and the first alert's syscall.

usage: model_eval.py BUILD TMPDIR OUT   (env LEARN=5 TEST=10 REPS=3)
"""
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time

BUILD, T, OUT = sys.argv[1:4]
LEARN = int(os.environ.get('LEARN', '5'))
TEST = int(os.environ.get('TEST', '10'))
REPS = int(os.environ.get('REPS', '3'))
CAP = os.path.join(BUILD, 'bin', 'emt-capture')
LEARNER = os.path.join(BUILD, 'bin', 'emt-learn')
EXTRACT = os.path.join(BUILD, 'bin', 'emt-extract')
FX = os.path.join(BUILD, 'fixtures', 'fx_takeover')
DEPTHS = (1, 2, 3)
log = []


def say(msg):
    print(msg, flush=True)


def capture(archive, argv, extra=(), stdout=subprocess.DEVNULL):
    if os.path.exists(archive):
        os.unlink(archive)
    r = subprocess.run([CAP, '-q', '-o', archive] + list(extra) + ['--'] + argv,
                       stdout=stdout, stderr=subprocess.PIPE, cwd=T)
    if r.returncode:
        raise SystemExit('capture %s failed: %s' % (' '.join(argv), r.stderr.decode()[-500:]))
    return r


def learn(model, archives, depth):
    r = subprocess.run([LEARNER, '-q', '-f', '-d', str(depth), '-o', model] + archives,
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit('emt-learn: ' + r.stderr)


def alerts(archive):
    db = sqlite3.connect(archive)
    try:
        return db.execute('SELECT id, time_ns, nr, name, syscalls, rip FROM alerts'
                          ' ORDER BY id').fetchall()
    finally:
        db.close()


def transitions(model):
    m = json.load(open(model))
    return sum(len(p['transitions']) for p in m['programs']), len(m['programs'])


# ---------------------------------------------------------------- inputs
data = os.path.join(T, 'data')
os.makedirs(data, exist_ok=True)
files = []
for i, size in enumerate([3000, 20000, 150000, 700000, 2500000, 9000, 60000, 400000,
                          1200000, 5000000, 1500, 90000, 300000, 800000, 30000]):
    p = os.path.join(data, 'f%02d.txt' % i)
    with open(p, 'wb') as f:
        # text with some redundancy: compressors do real work
        words = [b'alpha', b'beta', b'gamma', b'delta', b'%d' % i, b'syscall', b'model']
        n, k = 0, i + 1
        while n < size:
            w = words[k % len(words)] + b' '
            k = (k * 1103515245 + 12345) & 0x7fffffff
            f.write(w)
            n += len(w)
    files.append(p)
script = os.path.join(T, 'work.py')
with open(script, 'w') as f:
    f.write('import hashlib, json, sys, zlib\n'
            'data = open(sys.argv[1], "rb").read()\n'
            'words = data.split()\n'
            'counts = {}\n'
            'for w in words[: int(sys.argv[2])]:\n'
            '    counts[w] = counts.get(w, 0) + 1\n'
            'print(json.dumps({k.decode(): v for k, v in counts.items()})[:80],\n'
            '      hashlib.sha256(zlib.compress(data)).hexdigest())\n')
dirs = [d for d in ['/usr/include/linux', '/etc', '/usr/share/doc/bash', '/usr/lib/python3.11/json',
                    '/usr/include/x86_64-linux-gnu', '/usr/share/zoneinfo/Europe', '/usr/lib/x86_64-linux-gnu/perl5',
                    '/usr/include/asm-generic', '/usr/share/man/man1', '/usr/lib/python3.11/email',
                    '/usr/share/perl5', '/usr/include/sys', '/usr/share/locale/de',
                    '/usr/share/doc', '/usr/include/openssl']
        if os.path.isdir(d)]
www = os.path.join(T, 'www')
os.makedirs(www, exist_ok=True)
for p in files:
    shutil.copy(p, www)
s = socket.socket()
s.bind(('127.0.0.1', 0))
port = s.getsockname()[1]
s.close()
server = None
have_curl = shutil.which('curl') is not None
if have_curl:
    server = subprocess.Popen(['/usr/bin/python3', '-m', 'http.server', str(port), '--bind',
                               '127.0.0.1'], cwd=www, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    time.sleep(1.5)


def runs(i):
    """The i-th input of every program (0..LEARN-1 learn, the rest test)."""
    f = files[i % len(files)]
    progs = {
        'python3': ['/usr/bin/python3', script, f, str(1000 * (i + 1))],
        'gzip': ['/usr/bin/gzip', '-c', '-%d' % (1 + i % 9), f],
        'xz': ['/usr/bin/xz', '-c', '-T1', '-%d' % (i % 7), f],
        'find': ['/usr/bin/find', dirs[i % len(dirs)], '-name', '*.%s' % ('h', 'conf', 'py', 'gz', 'txt')[i % 5]],
    }
    if have_curl:
        progs['curl'] = ['/usr/bin/curl', '-s', '-o', '/dev/null',
                         'http://127.0.0.1:%d/%s' % (port, os.path.basename(f))]
    return progs


# ---------------------------------------------------------------- 1. benign
say('learning: %d runs of each program with --syscalls all' % LEARN)
learned = {}
t0 = time.time()
for i in range(LEARN):
    for name, argv in runs(i).items():
        a = os.path.join(T, 'learn-%s-%d.emt' % (name, i))
        capture(a, argv, ['--syscalls', 'all'])
        learned.setdefault(name, []).append(a)
say('  %.0f s' % (time.time() - t0))
models = {}
for d in DEPTHS:
    models[d] = os.path.join(T, 'benign-d%d.json' % d)
    learn(models[d], sum(learned.values(), []), d)
benign = {}
say('testing: %d other runs of each under --model' % TEST)
for d in DEPTHS:
    for i in range(LEARN, LEARN + TEST):
        for name, argv in runs(i).items():
            a = os.path.join(T, 'test.emt')
            capture(a, argv, ['--model', models[d], '--alert-rate', '1000'])
            al = alerts(a)
            benign.setdefault((name, d), []).append(len(al))
            if al and d == 2:
                log.append('  %s run %d depth %d: %s' % (name, i, d, ', '.join(
                    '->'.join(e['name'] for e in json.loads(x[4])) for x in al[:4])))

# ---------------------------------------------------------------- 2. takeover
say('takeover fixture: learning')
tl = []
for i in range(LEARN):
    a = os.path.join(T, 'learn-fx-%d.emt' % i)
    capture(a, [FX, '--rounds', str(2 + i), '--input', files[i]], ['--syscalls', 'all'])
    tl.append(a)
fxm = {}
for d in DEPTHS:
    fxm[d] = os.path.join(T, 'fx-d%d.json' % d)
    learn(fxm[d], tl, d)
# the first foreign call of each kind: (name, how to tell it in the timeline)
first = {
    'connect': ('socket', lambda r: True),
    'mprotect': ('mprotect', lambda r: 'PROT_WRITE|PROT_EXEC' in r[2]),
    'execve': ('execve', lambda r: True),
    'memfd': ('memfd_create', lambda r: True),
}
take = {}
for kind in ('connect', 'mprotect', 'execve', 'memfd'):
    for d in DEPTHS:
        for rep in range(REPS):
            a = os.path.join(T, 'take.emt')
            out = capture(a, [FX, '--rounds', str(3 + rep), '--input', files[LEARN + rep], kind],
                          ['--model', fxm[d], '--alert-rate', '1000', '--syscalls',
                           'socket,mprotect,execve,memfd_create'],
                          stdout=subprocess.PIPE).stdout.decode(errors='replace')
            truth = [dict(kv.split('=', 1) for kv in l.split()[1:]) for l in out.splitlines()
                     if l.startswith('EMT-SHELLCODE ') and 'kind=%s' % kind in l]
            if not truth:
                raise SystemExit('fx_takeover %s printed no truth line' % kind)
            t = truth[0]
            lo, hi = int(t['addr'], 16), int(t['addr'], 16) + int(t['size'])
            db = sqlite3.connect(a)
            rows = db.execute('SELECT time_ns, name, args_text FROM syscalls ORDER BY id').fetchall()
            name, pred = first[kind]
            cand = [r for r in rows if r[1] == name and pred(r)]
            ff = cand[-1] if kind == 'execve' else (cand[0] if cand else None)
            al = db.execute('SELECT id, time_ns, name, rip FROM alerts ORDER BY id').fetchall()
            after = [x for x in al if ff and x[1] >= ff[0]]
            detected = bool(after)
            delay_us = (after[0][1] - ff[0]) / 1000 if after else None
            in_sc = [x for x in al if lo <= x[3] < hi]
            exact = False
            for x in al:
                for (seq, caddr, size) in db.execute(
                        'SELECT c.seq, c.addr, c.size FROM alert_captures l JOIN captures c'
                        ' ON c.seq = l.seq WHERE l.alert_id = ?', (x[0],)):
                    if caddr <= lo and hi <= caddr + size:
                        b = subprocess.run([EXTRACT, a, '--seq', str(seq), '-o', '-'],
                                           capture_output=True).stdout
                        page = b[lo - caddr: hi - caddr]
                        if hashlib.sha256(page).hexdigest() == t['sha256']:
                            exact = True
            db.close()
            take.setdefault((kind, d), []).append((detected, delay_us, after[0][2] if after else '-',
                                                   len(in_sc) > 0, exact, len(al)))
if server:
    server.terminate()

# ---------------------------------------------------------------- report
with open(OUT, 'w') as f:
    def w(s=''):
        f.write(s + '\n')
    w('# bench_model_eval.sh - %s - %s - %d CPUs - load %s' % (
        time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()), os.uname().release,
        os.cpu_count(), ' '.join(open('/proc/loadavg').read().split()[:3])))
    w('# The machine is shared with other jobs (2 CPUs, other engineers building and testing).')
    w('# Models learned by emt-learn from ARCHIVES of emt-capture --syscalls all (not strace).')
    w()
    w('1. Benign Debian programs: learned on %d runs each (varied inputs), then %d other' % (LEARN, TEST))
    w('   benign runs each under emt-capture --model (--alert-rate 1000): every alert is false.')
    w('   inputs: python3 running a word-count/json/zlib script on text files of 1.5 KB to 5 MB')
    w('   with varied word limits; gzip -1..-9 and xz -0..-6 (-T1) of those files; find in')
    w('   %d system directories with varied -name patterns; curl%s fetching those files from' % (
        len(dirs), '' if have_curl else ' (NOT RUN: curl missing)'))
    w('   a local python3 -m http.server.')
    for d in DEPTHS:
        n, p = transitions(models[d])
        w('   depth %d model: %d programs, %d transitions' % (d, p, n))
    w()
    w('   %-8s %-22s %-22s %-22s' % ('program', 'depth 1', 'depth 2', 'depth 3'))
    w('   %-8s %-22s %-22s %-22s' % ('', 'alerts/run (runs>0)', 'alerts/run (runs>0)', 'alerts/run (runs>0)'))
    for name in runs(0):
        cells = []
        for d in DEPTHS:
            v = benign.get((name, d), [])
            cells.append('%.1f (%d of %d)' % (statistics.mean(v), sum(1 for x in v if x), len(v))
                         if v else '-')
        w('   %-8s %-22s %-22s %-22s' % (name, *cells))
    if log:
        w()
        w('   first false alerts at depth 2 (window of each, up to 4 per run):')
        for l in log[:30]:
            w(l)
    w()
    w('2. fixtures/fx_takeover: learned on %d benign runs (2 to %d rounds, varied inputs); then' % (
        LEARN, LEARN + 1))
    w('   %d runs per kind and depth: benign rounds, then the shellcode (after the same loader' % REPS)
    w('   the benign rounds use).  first foreign = the first call the benign runs never make')
    w('   there (connect: socket; mprotect: mprotect RWX; execve: execve; memfd: the loader\'s')
    w('   memfd_create); delay = first alert at or after it, from its entry (both times taken')
    w('   at syscall entry, by two different BPF programs); in-sc = an alert whose RIP is in the')
    w('   shellcode page; exact = a capture of an alert holds the whole shellcode page, its')
    w('   SHA-256 equal to the fixture\'s.')
    w()
    w('   %-9s %-5s %-9s %-16s %-14s %-7s %-7s %s' % ('kind', 'depth', 'detected', 'delay us (max)',
                                                    'first alert', 'in-sc', 'exact', 'alerts/run'))
    for kind in ('connect', 'mprotect', 'execve', 'memfd'):
        for d in DEPTHS:
            v = take[(kind, d)]
            det = sum(1 for x in v if x[0])
            ds = [x[1] for x in v if x[1] is not None]
            w('   %-9s %-5d %-9s %-16s %-14s %-7s %-7s %.1f' % (
                kind, d, '%d/%d' % (det, len(v)),
                ('%.0f (%.0f)' % (statistics.median(ds), max(ds))) if ds else '-',
                ','.join(sorted(set(x[2] for x in v))),
                '%d/%d' % (sum(1 for x in v if x[3]), len(v)),
                '%d/%d' % (sum(1 for x in v if x[4]), len(v)),
                statistics.mean(x[5] for x in v)))
print(open(OUT).read())
