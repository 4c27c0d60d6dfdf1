#!/usr/bin/env python3
"""Paragon's `aggregate` against the Python peer cve-report-aggregator, side
by side in one run on the same Grype reports, plus a bare serde_json pass
(`IgnoredAny`) over the same bytes, on one thread and on every core.

    python3 benches/compare.py [--copies 20] [--runs 5] [--source FILE]

The corpus is `--copies` copies of the Grype report
`paragon-scanners/tests/fixtures/anchore_grype/many_vulns.json`, each with
its own image name, written to a temporary
directory. Each tool runs `--runs` times, interleaved; the median wall time
and the largest peak RSS (from wait4's rusage, the process alone) are
reported, with the ratios the project's targets are stated in.

The peer needs Python 3.13 (found with `PYENV_VERSION=3.13.0 pyenv which
cve-report-aggregator`, or set PEER=/path/to/cve-report-aggregator) and a
`grype` on PATH even for ready reports; a stub that prints a version is put
on PATH for it.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd, env=None):
    """Runs cmd; returns (wall seconds, peak RSS in MiB, its own timing in
    seconds or None). The output goes to temporary files, never pipes, so
    that a chatty tool cannot block on a full pipe while it is waited for."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if proc.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({proc.returncode}):\n{stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024, own_timing(stdout + stderr)


def own_timing(text):
    """The time a tool measured itself, in seconds: `aggregate --timings`
    prints `read+parse+merge X ms`, json_pass prints `N bytes in S s`."""
    m = re.search(r"read\+parse\+merge ([0-9.]+) ms", text)
    if m:
        return float(m.group(1)) / 1e3
    m = re.search(r"bytes in ([0-9.]+) s", text)
    return float(m.group(1)) if m else None


def write_corpus(source, copies, directory):
    """Writes `copies` copies of the Grype report `source` into `directory`,
    each with its own image name; returns (paths, total bytes, matches)."""
    with open(source, encoding="utf-8") as f:
        doc = json.load(f)
    files = []
    for i in range(copies):
        doc["source"]["target"]["userInput"] = f"registry.example.internal/app-{i:03d}:1.0.{i}"
        path = os.path.join(directory, f"grype-{i:03d}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f)
        files.append(path)
    size = sum(os.path.getsize(p) for p in files)
    return files, size, len(doc["matches"]) * copies


def find_peer():
    if os.environ.get("PEER"):
        return os.environ["PEER"]
    try:
        out = subprocess.run(
            ["pyenv", "which", "cve-report-aggregator"],
            env={**os.environ, "PYENV_VERSION": "3.13.0"},
            capture_output=True, text=True, check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        sys.exit("cve-report-aggregator not found: PYENV_VERSION=3.13.0 pyenv exec pip install "
                 "cve-report-aggregator, or set PEER=")


def corpus_args(doc):
    """The arguments both scripts take (`--copies`, `--runs`, `--source`),
    parsed, with the first paragraph of `doc` as the description."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--runs", type=int, default=5)
    fixtures = os.path.join(ROOT, "paragon-scanners", "tests", "fixtures")
    ap.add_argument("--source", default=os.path.join(fixtures, "anchore_grype", "many_vulns.json"))
    args = ap.parse_args()
    if args.copies < 1 or args.runs < 1:
        sys.exit("--copies and --runs must be at least 1")
    return args


def main():
    args = corpus_args(__doc__)

    print("building the aggregate example and json_pass (release)...", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "examples", "--example", "aggregate"],
                   cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "benches", "--bin", "json_pass"],
                   cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    aggregate = os.path.join(target, "release", "examples", "aggregate")
    json_pass = os.path.join(target, "release", "json_pass")
    peer = find_peer()
    cores = os.cpu_count() or 1

    work = tempfile.mkdtemp(prefix="paragon-compare-")
    try:
        reports = os.path.join(work, "reports")
        os.mkdir(reports)
        files, size, matches = write_corpus(args.source, args.copies, reports)
        stub = os.path.join(work, "bin")
        os.mkdir(stub)
        with open(os.path.join(stub, "grype"), "w") as f:
            f.write("#!/bin/sh\necho 'grype 0.0.0-stub'\n")
        os.chmod(os.path.join(stub, "grype"), 0o755)
        peer_env = {**os.environ, "PATH": stub + os.pathsep + os.environ["PATH"]}
        out = os.path.join(work, "out")

        cmds = {
            "paragon aggregate": ([aggregate, "--timings", "--output", os.path.join(work, "paragon.json")]
                                  + files, None),
            "cve-report-aggregator": ([peer, "-i", reports, "-o", os.path.join(work, "peer.json"),
                                       "-d", out, "--local-only", "-l", "warning"], peer_env),
            "bare serde_json pass": ([json_pass] + files, None),
            f"bare pass, {cores} threads": ([json_pass, "--threads", str(cores)] + files, None),
        }
        results = {name: [] for name in cmds}
        for _ in range(args.runs):
            for name, (cmd, env) in cmds.items():
                results[name].append(run(cmd, env))
            shutil.rmtree(out, ignore_errors=True)

        print(f"corpus: {args.copies} Grype reports, {size / 1e6:.1f} MB, {matches} matches; "
              f"{args.runs} runs each, median wall, largest peak RSS")
        summary = {}
        own = {}
        for name, rs in results.items():
            wall = statistics.median(r[0] for r in rs)
            rss = max(r[1] for r in rs)
            summary[name] = (wall, rss)
            if all(r[2] is not None for r in rs):
                own[name] = statistics.median(r[2] for r in rs)
            print(f"  {name:<24} {wall * 1000:8.0f} ms  {rss:7.1f} MiB  {size / 1e6 / wall:7.0f} MB/s")
        p_wall, p_rss = summary["paragon aggregate"]
        c_wall, c_rss = summary["cve-report-aggregator"]
        j_wall, _ = summary["bare serde_json pass"]
        print(f"speed:  paragon is {c_wall / p_wall:.1f}x faster than cve-report-aggregator (target >= 20x)")
        print(f"memory: paragon peaks at {p_rss / c_rss:.2f} of its RSS (target <= 0.25)")
        p_ingest, j_own = own["paragon aggregate"], own["bare serde_json pass"]
        print(f"ingest: reading, parsing, normalizing and merging (aggregate --timings, median "
              f"{p_ingest * 1000:.0f} ms) runs at {j_own / p_ingest * 100:.0f}% of the bare JSON pass's "
              f"throughput (its own timing, {j_own * 1000:.0f} ms) (target >= 50%)")
        print(f"        the whole aggregate process, output included, runs at {j_wall / p_wall * 100:.0f}% "
              f"of the bare pass's process")
        j_all = own[f"bare pass, {cores} threads"]
        print(f"        against a bare pass on all {cores} cores as well (aggregate parses on all of them), "
              f"ingest runs at {j_all / p_ingest * 100:.0f}% of its throughput ({j_all * 1000:.0f} ms)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
