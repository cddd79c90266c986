"""How long roiviz.conventions.identify takes on a 64 x 64 map over the whole catalogue.

Issue 18's budget: an answer within 1 s. The case: one channel, a 7 x 7 output made by
``tv_align_legacy`` with sampling ratio 2, settings unknown to the detective (it tries every
dialect with adaptive and ratios 1..16, both box orders and every normalisation each framework
takes). Prints the median, min and max wall time of several runs, the process CPU time, and the
load average (the machine may be shared). Run: ``.venv/bin/python benchmarks/bench_identify.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from roiviz.conventions import DIALECTS, compute, identify  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--channels", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    features = rng.normal(size=(args.channels, 64, 64)).astype(np.float32)
    box = np.array([10.3, 5.2, 40.7, 50.1], np.float32)
    output = compute("tv_align_legacy", features, box, (7, 7), sampling_ratio=2).numpy()[0]
    identify(features, box, output, spatial_scale=1.0)           # warm-up (imports, allocator)
    walls, cpus = [], []
    for _ in range(args.runs):
        w, c = time.perf_counter(), time.process_time()
        diagnosis = identify(features, box, output, spatial_scale=1.0)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    load = os.getloadavg()
    print(f"identify, 64 x 64 x {args.channels}, {len(DIALECTS)} dialects, torch threads {torch.get_num_threads()}: "
          f"wall median {statistics.median(walls):.3f} s (min {min(walls):.3f}, max {max(walls):.3f}, "
          f"{args.runs} runs); CPU median {statistics.median(cpus):.3f} s; load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    print("top group:", ", ".join(m.dialect for m in diagnosis.top))


if __name__ == "__main__":
    main()
