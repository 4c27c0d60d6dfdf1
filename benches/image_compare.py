#!/usr/bin/env python3
"""Paragon's native image build and push against buildah and skopeo, side by
side in one run on the same build contexts.

    python3 benches/image_compare.py [--runs 5] [--big-mib 256] [--contexts big,small]
                                     [--compression gzip:6|zstd:3|none]

Two contexts are generated in a temporary directory (seeded, the same bytes
every time): `big`, one file of `--big-mib` MiB of random bytes plus 2,000
small files, and `small`, 20,000 small files. For each context, `--runs`
rounds run alternating, each against a fresh local `docker-registry`
(plain http, loopback):

- `native layout`: the `push` example (release) building the context
  natively and pushing it into an OCI layout directory;
- `native layout on a base`: the same build on top of the image just
  built (its layers copied from that layout), into another layout;
- `native registry`: the same build pushed to the registry;
- `buildah bud`: `buildah bud` (vfs, chroot isolation, `FROM scratch`,
  `COPY . /app`) of the same context;
- `buildah push oci`: `buildah push` of that image into an OCI layout;
- `skopeo copy`: `skopeo copy` of Paragon's layout to the registry;
- `buildah bud + skopeo copy`: `buildah bud` timed above plus `skopeo copy`
  of its image from buildah's storage to the registry.

Reported: the median wall time and the largest peak RSS (wait4's rusage)
of each step, the ratios the project's targets are stated in, and whether
the repeated native builds gave one digest. Needs `buildah`, `skopeo` and
`docker-registry` on PATH and about 3 GiB free for the big context.
"""

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUSH = os.path.join(ROOT, "target", "release", "examples", "push")


def run(cmd, env=None):
    """Runs cmd; returns (wall seconds, peak RSS in MiB, stdout)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    if code != 0:
        sys.exit(f"{' '.join(cmd)} failed ({code}):\n{stderr[-3000:]}")
    return wall, usage.ru_maxrss / 1024, stdout


KEYWORDS = ("fn let mut pub struct impl match return self Some None Ok Err use mod "
            "const static where async await loop while for in if else true false").split()


def source_line(rng):
    """A line shaped like source code: indentation, keywords, identifiers
    of random letters, numbers and punctuation (compresses about 3x, as
    real source does)."""
    words = []
    for _ in range(rng.randint(2, 9)):
        r = rng.random()
        if r < 0.45:
            words.append(rng.choice(KEYWORDS))
        elif r < 0.85:
            words.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(3, 10))))
        else:
            words.append(str(rng.randint(0, 100000)))
    return " " * (4 * rng.randint(0, 3)) + " ".join(words) + rng.choice((";", " {", ",", "", ")")) + "\n"


def write_small_files(root, count, rng):
    """`count` source-like text files of 200 B to 4 KiB, 100 per directory."""
    for i in range(count):
        d = os.path.join(root, "src", f"d{i // 100:04d}")
        os.makedirs(d, exist_ok=True)
        size = rng.randint(200, 4096)
        lines = []
        while sum(len(l) for l in lines) < size:
            lines.append(source_line(rng))
        with open(os.path.join(d, f"f{i:05d}.rs"), "w", encoding="utf-8") as f:
            f.write("".join(lines)[:size])


def make_contexts(base, big_mib, which):
    rng = random.Random(20261207)
    contexts = {}
    if "big" in which:
        big = os.path.join(base, "ctx-big")
        os.makedirs(big)
        with open(os.path.join(big, "big.bin"), "wb") as f:
            for _ in range(big_mib):
                f.write(rng.randbytes(1 << 20))
        write_small_files(big, 2000, rng)
        contexts["big"] = big
    if "small" in which:
        small = os.path.join(base, "ctx-small")
        os.makedirs(small)
        write_small_files(small, 20000, rng)
        contexts["small"] = small
    return contexts


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """A docker-registry on a loopback port with its own storage."""

    def __init__(self, base):
        self.dir = tempfile.mkdtemp(prefix="registry-", dir=base)
        self.port = free_port()
        config = os.path.join(self.dir, "config.yml")
        with open(config, "w", encoding="utf-8") as f:
            f.write(
                "version: 0.1\n"
                "log:\n  level: error\n"
                f"storage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n"
                f"http:\n  addr: 127.0.0.1:{self.port}\n"
            )
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", config],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("docker-registry did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def buildah(storage, *args):
    return [
        "buildah",
        "--root", os.path.join(storage, "root"),
        "--runroot", os.path.join(storage, "runroot"),
        "--storage-driver", "vfs",
        *args,
    ]


def one_round(context, base, n, compression):
    """One round of every step on `context`; returns {step: (wall, rss)} and
    the native digest."""
    out = {}
    registry = Registry(base)
    host = f"127.0.0.1:{registry.port}"
    work = tempfile.mkdtemp(prefix=f"round-{n}-", dir=base)
    try:
        layout = os.path.join(work, "layout")
        native = [PUSH, "--context", context, "--compression", compression]
        w, m, stdout = run(native + ["--repository", "bench/app", "--tag", "1.0.0",
                                     "--layout", layout])
        out["native layout"] = (w, m)
        digest = next(l.split()[1] for l in stdout.splitlines() if l.startswith("digest:"))
        w, m, _ = run(native + ["--repository", "bench/on-base", "--tag", "1.0.0",
                                "--layout", os.path.join(work, "on-base"),
                                "--base", layout, "--base-ref", "bench/app:1.0.0"])
        out["native layout on a base"] = (w, m)
        w, m, stdout = run(native + ["--registry", f"http://{host}",
                                     "--repository", "bench/native", "--tag", "1.0.0"])
        out["native registry"] = (w, m)
        pushed = next(l.split()[1] for l in stdout.splitlines() if l.startswith("digest:"))
        if pushed != digest:
            sys.exit(f"the two native builds differ: {digest} and {pushed}")
        w, m, _ = run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                       f"oci:{layout}:bench/app:1.0.0", f"docker://{host}/bench/skopeo:1.0.0"])
        out["skopeo copy"] = (w, m)
        storage = os.path.join(work, "buildah")
        containerfile = os.path.join(work, "Containerfile")
        with open(containerfile, "w", encoding="utf-8") as f:
            f.write("FROM scratch\nCOPY . /app\n")
        w, m, _ = run(buildah(storage, "bud", "--quiet", "--isolation", "chroot",
                              "-f", containerfile, "-t", "localhost/bench:1.0.0", context))
        out["buildah bud"] = (w, m)
        w, m, _ = run(buildah(storage, "push", "--quiet", "localhost/bench:1.0.0",
                              f"oci:{os.path.join(work, 'buildah-layout')}:1.0.0"))
        out["buildah push oci"] = (w, m)
        src = (f"containers-storage:[vfs@{os.path.join(storage, 'root')}"
               f"+{os.path.join(storage, 'runroot')}]localhost/bench:1.0.0")
        w, m, _ = run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", src,
                       f"docker://{host}/bench/buildah:1.0.0"])
        out["skopeo copy from buildah"] = (w, m)
        run(buildah(storage, "rmi", "--all", "--force"))
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)
    return out, digest


def report(name, rounds, digests):
    steps = list(rounds[0].keys())
    med = {s: statistics.median(r[s][0] for r in rounds) for s in steps}
    rss = {s: max(r[s][1] for r in rounds) for s in steps}
    print(f"\n## {name} ({len(rounds)} rounds, median wall, largest peak RSS)\n")
    print("| step | wall | peak RSS |")
    print("|---|---|---|")
    for s in steps:
        print(f"| {s} | {med[s]:.2f} s | {rss[s]:.1f} MiB |")
    peer = med["buildah bud"] + med["skopeo copy from buildah"]
    peer_layout = med["buildah bud"] + med["buildah push oci"]
    print()
    print(f"native build + push: {med['native registry']:.2f} s against buildah bud + "
          f"skopeo copy {peer:.2f} s: {peer / med['native registry']:.2f}x")
    print(f"native build into a layout: {med['native layout']:.2f} s against buildah bud + "
          f"buildah push oci {peer_layout:.2f} s: {peer_layout / med['native layout']:.2f}x")
    print(f"repeated native builds: {len(set(digests))} digest(s) {sorted(set(digests))}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--big-mib", type=int, default=256)
    p.add_argument("--contexts", default="big,small")
    p.add_argument("--compression", default="gzip:6",
                   help="the native builder's layer compression (the push example's flag)")
    p.add_argument("--no-build", action="store_true", help="use the push example as built")
    a = p.parse_args()
    for tool in ("buildah", "skopeo", "docker-registry"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not on PATH")
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "examples", "--example",
                        "push"], cwd=ROOT, check=True)
    print(f"native layer compression: {a.compression}")
    base = tempfile.mkdtemp(prefix="paragon-image-bench-")
    try:
        contexts = make_contexts(base, a.big_mib, a.contexts.split(","))
        for name, context in contexts.items():
            rounds, digests = [], []
            for n in range(a.runs):
                r, d = one_round(context, base, n, a.compression)
                rounds.append(r)
                digests.append(d)
                print(f"{name} round {n + 1}: " +
                      ", ".join(f"{s} {w:.2f} s" for s, (w, _) in r.items()), file=sys.stderr)
            report(name, rounds, digests)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
