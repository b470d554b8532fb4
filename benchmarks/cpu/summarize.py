#!/usr/bin/env python3
"""Summarises run.sh's sittings: per CPU path, each case's median over the sittings of NativeCnn's and
PyTorch's per-sitting medians, the spread (min-max) of each, and the ratio of the two medians.
  usage: summarize.py OUTDIR PATH [PATH ...]   (reads OUTDIR/bench-PATH-N.txt and OUTDIR/torch-N.jsonl)"""
import glob, json, os, re, statistics, sys

def ours(path):
    rows = {}
    for line in open(path):
        m = re.match(r'^(\S+)\s+([0-9.]+)\s+[0-9.]+ \S+', line)
        if m and not line.startswith(('case', 'device', 'cpu')):
            rows[m.group(1)] = float(m.group(2))
    return rows

def torch(path):
    rows = {}
    for line in open(path):
        if line.startswith('{'):
            r = json.loads(line)
            if 'median_ms' in r and not r.get('amp') and r.get('dtype', 'float32') == 'float32':
                rows[r['case']] = r['median_ms']
    return rows

def main():
    out, paths = sys.argv[1], sys.argv[2:]
    log = open(os.path.join(out, 'sittings.log')).read() if os.path.exists(os.path.join(out, 'sittings.log')) else ''
    tfiles = sorted(glob.glob(os.path.join(out, 'torch-*.jsonl')))
    t = [torch(f) for f in tfiles]
    print(open(os.path.join(out, 'machine.txt')).read().strip().replace('\n', '; '))
    print()
    print('Sittings (start, each path\'s end, load averages 1/5/15 min):')
    print('```'); print(log.strip()); print('```')
    for p in paths:
        files = sorted(glob.glob(os.path.join(out, f'bench-{p}-*.txt')))
        o = [ours(f) for f in files]
        cpu = ''
        if files:
            for line in open(files[0]):
                if line.startswith('cpu:'): cpu = line[4:].strip()
        print(f'\n### CPU path {p}: {len(o)} sittings\n')
        if cpu: print(f'{cpu}\n')
        print('| case | NativeCnn median ms | spread | PyTorch median ms | spread | ratio of medians | ratios per sitting |')
        print('| --- | ---: | --- | ---: | --- | ---: | --- |')
        cases = [c for c in o[0]] if o else []
        for c in cases:
            ns = [r[c] for r in o if c in r]
            ts = [r[c] for r in t if c in r]
            nm = statistics.median(ns)
            if ts:
                tm = statistics.median(ts)
                per = ', '.join(f'{a / b:.2f}' for a, b in zip(ns, ts))
                print(f'| {c} | {nm:.3f} | {min(ns):.3f}-{max(ns):.3f} | {tm:.3f} | {min(ts):.3f}-{max(ts):.3f} | {nm / tm:.2f} | {per} |')
            else:
                print(f'| {c} | {nm:.3f} | {min(ns):.3f}-{max(ns):.3f} | - | - | - | - |')

main()
