#!/usr/bin/env python3
"""Trivy ignore policies: Paragon against `trivy convert --ignore-policy`,
in one run, on one generated Trivy report.

    python3 benches/rego_compare.py [FINDINGS]   # default 100000

Writes a Trivy JSON report (schema 2) of FINDINGS vulnerabilities (random
packages, CVE ids, severities, CVSS vectors; seeded), then applies Trivy's
example policy `basic.rego` (kept in paragon-scanners' fixtures) with real
Trivy (`PARAGON_TRIVY` or `trivy` on PATH) and with Paragon
(`benches/src/bin/rego_ignore.rs`, release build), alternating, three runs
each. Both must keep the same number of findings. Prints the median wall
time and findings per second of each.
"""

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLICY = os.path.join(ROOT, "paragon-scanners/tests/fixtures/rego/trivy-basic.rego")
RUNS = 3


def report(n, path):
    rng = random.Random(7)
    pkgs = ["bash", "vim", "openssl", "curl", "zlib", "libxml2", "rpm", "glibc", "busybox", "expat"]
    sevs = ["LOW", "MEDIUM", "HIGH", "CRITICAL", "UNKNOWN"]
    vectors = ["AV:N", "AV:L", "AV:A", "AV:P"]
    vulns = []
    for i in range(n):
        pkg = rng.choice(pkgs) + ("" if i % 3 else f"-{i % 97}")
        v = {
            "VulnerabilityID": f"CVE-20{rng.randint(10, 24)}-{10000 + i}",
            "PkgName": pkg,
            "InstalledVersion": f"1.{rng.randint(0, 9)}.{rng.randint(0, 30)}",
            "FixedVersion": f"1.{rng.randint(0, 9)}.{rng.randint(31, 60)}" if i % 2 else "",
            "Severity": rng.choice(sevs),
            "CweIDs": [rng.choice(["CWE-79", "CWE-352", "CWE-787", "CWE-20"])],
            "CVSS": {"nvd": {"V3Vector": f"CVSS:3.1/{rng.choice(vectors)}/AC:L/PR:{rng.choice('NLH')}/UI:{rng.choice('NR')}/S:U/C:H/I:H/A:H", "V3Score": 7.5}},
        }
        vulns.append(v)
    doc = {
        "SchemaVersion": 2,
        "ArtifactName": "bench",
        "ArtifactType": "filesystem",
        "Results": [{"Target": "bench", "Class": "os-pkgs", "Type": "debian", "Vulnerabilities": vulns}],
    }
    with open(path, "w") as f:
        json.dump(doc, f)


def trivy_binary():
    t = os.environ.get("PARAGON_TRIVY") or shutil.which("trivy")
    if not t:
        sys.exit("trivy not found: set PARAGON_TRIVY or put trivy on PATH")
    return t


def run_trivy(trivy, path):
    began = time.perf_counter()
    out = subprocess.run(
        [trivy, "convert", "--format", "json", "--ignore-policy", POLICY, path],
        check=True, capture_output=True, env={**os.environ, "TRIVY_NO_PROGRESS": "true"},
    )
    took = time.perf_counter() - began
    kept = sum(len(r.get("Vulnerabilities") or []) for r in json.loads(out.stdout).get("Results", []))
    return took, kept


def run_paragon(binary, path, n):
    began = time.perf_counter()
    out = subprocess.run([binary, POLICY, path], check=True, capture_output=True, text=True)
    took = time.perf_counter() - began
    answer = json.loads(out.stdout)
    return took, n - answer["ignored"]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "benches", "--bin", "rego_ignore"], check=True, cwd=ROOT)
    binary = os.path.join(ROOT, "target/release/rego_ignore")
    trivy = trivy_binary()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "trivy.json")
        report(n, path)
        times = {"trivy": [], "paragon": []}
        kept = {}
        for _ in range(RUNS):
            t, k = run_trivy(trivy, path)
            times["trivy"].append(t)
            kept["trivy"] = k
            t, k = run_paragon(binary, path, n)
            times["paragon"].append(t)
            kept["paragon"] = k
    if kept["trivy"] != kept["paragon"]:
        sys.exit(f"the two kept different findings: {kept}")
    print(f"{n} findings, {n - kept['trivy']} ignored by both, median of {RUNS} runs")
    for name in ("trivy", "paragon"):
        med = statistics.median(times[name])
        print(f"{name:8} {med:7.2f} s  {n / med:10.0f} findings/s")


if __name__ == "__main__":
    main()
