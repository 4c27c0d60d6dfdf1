#!/usr/bin/env python3
"""What keeping freed memory mapped costs the `aggregate` example: its
wall time and peak memory with mimalloc's default purge and with
`MIMALLOC_PURGE_DELAY=-1` in its environment, alternating, on the same
reports.

    python3 benches/purge_setting.py [--copies 20] [--runs 5] [--source FILE]

The corpus is `--copies` copies of the Grype report
`paragon-scanners/tests/fixtures/anchore_grype/many_vulns.json`, each with
its own image name, as `compare.py` makes
it, written to a temporary directory. The median wall time and the
largest peak RSS (from wait4's rusage) of each setting are reported.
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from compare import ROOT, corpus_args, write_corpus

SETTINGS = {
    "default purge": {},
    "MIMALLOC_PURGE_DELAY=-1": {"MIMALLOC_PURGE_DELAY": "-1"},
}


def run(cmd, extra_env):
    """Runs cmd with extra_env; returns (wall seconds, peak RSS in MiB)."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, env={**os.environ, **extra_env})
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            out.seek(0)
            sys.exit(f"{cmd[0]} failed:\n{out.read().decode(errors='replace')[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def main():
    args = corpus_args(__doc__)

    print("building the aggregate example (release)...", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "examples", "--example", "aggregate"],
                   cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    aggregate = os.path.join(target, "release", "examples", "aggregate")

    work = tempfile.mkdtemp(prefix="paragon-purge-")
    try:
        files, size, matches = write_corpus(args.source, args.copies, work)
        cmd = [aggregate, "--output", os.path.join(work, "merged.json")] + files
        results = {name: [] for name in SETTINGS}
        for _ in range(args.runs):
            for name, env in SETTINGS.items():
                results[name].append(run(cmd, env))
        print(f"corpus: {args.copies} Grype reports, {size / 1e6:.1f} MB, {matches} matches; "
              f"{args.runs} runs each, median wall, largest peak RSS")
        for name, rs in results.items():
            wall = statistics.median(r[0] for r in rs)
            rss = max(r[1] for r in rs)
            print(f"  {name:<24} {wall * 1000:8.0f} ms  {rss:7.1f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
