"""Benchmark roiviz's batched ops on the Faster R-CNN box-head workload.

Run: ``.venv/bin/python benchmarks/bench_ops.py [--runs 20] [--fpn] [--threads N]``

Workload: a 2 x 256 x 50 x 68 float32 feature map (stride 16 of an 800 x 1088 image), 512
proposals (random centres, widths and heights log-uniform in 16..512 px, clipped to the image),
7 x 7 output, ``spatial_scale = 1/16``, ``sampling_ratio = 2``, ``aligned=True``.

Compared against ONNX Runtime's CPU kernels (``RoiAlign`` opset 16 and ``MaxRoiPool``; one
session created up front, default intra-op threads) and a naive numpy loop over boxes and bins
(timed on the first 16 boxes and scaled to 512). Outputs are checked against ORT before timing.
Prints a markdown table of medians.

Then the Faster R-CNN FPN head (``--fpn`` runs only this part): 2 images of 800 x 1216, P2-P5
with 256 channels (200 x 304, 100 x 152, 50 x 76, 25 x 38), 1000 proposals per image (random
centres, widths and heights log-uniform in 16..800 px, clipped to the image), 7 x 7 output,
``sampling_ratio`` 2. roiviz's ``MultiScaleRoIAlign`` (level assignment, one RoI Align per
level written into the result) against the sum over the four levels of ONNX Runtime's
``RoiAlign`` on the same boxes (one session per level, created up front; the boxes' levels are
computed before timing, so ORT's side has no assignment or scatter cost). Both ``aligned=False``
(torchvision's pooler) and ``aligned=True`` (Detectron2's ``ROIAlignV2``), with 1 and then 2
intra-op threads for both libraries (``--threads N``: only N), measured side by side in one run,
interleaved run by run; outputs are checked against ORT first. Prints the README's table: the
medians, their ratios to ORT's sum, the largest difference from ORT and the load average.
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

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from onnx_reference import align_session, pool_session  # noqa: E402
from roiviz.fpn import level_rule  # noqa: E402
from roiviz.ops import MultiScaleRoIAlign, fpn_levels, precise_roi_pool, roi_align, roi_pool, roi_warp  # noqa: E402

N, C, H, W = 2, 256, 50, 68
IMAGE_H, IMAGE_W = 800, 1088
K = 512
OUTPUT = (7, 7)
SCALE = 1 / 16
RATIO = 2
NAIVE_BOXES = 16

FPN_IMAGE = (800, 1216)
FPN_STRIDES = (4, 8, 16, 32)
FPN_NAMES = ("p2", "p3", "p4", "p5")
FPN_BOXES_PER_IMAGE = 1000


def workload(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    cx, cy = rng.uniform(0, IMAGE_W, K), rng.uniform(0, IMAGE_H, K)
    bw, bh = np.exp(rng.uniform(np.log(16), np.log(512), (2, K)))
    boxes = np.column_stack([np.clip(cx - bw / 2, 0, IMAGE_W), np.clip(cy - bh / 2, 0, IMAGE_H),
                             np.clip(cx + bw / 2, 0, IMAGE_W), np.clip(cy + bh / 2, 0, IMAGE_H)])
    batch = rng.integers(0, N, K)
    rois = np.column_stack([batch, boxes]).astype(np.float32)
    return x, rois


# ----------------------------------------------------------------------------------------------
# Naive references: Python loops over boxes, bins and samples, numpy over channels.


def naive_roi_align(x, rois, output_size=OUTPUT, scale=SCALE, ratio=RATIO):
    ph_n, pw_n = output_size
    _, channels, height, width = x.shape
    out = np.zeros((len(rois), channels, ph_n, pw_n), np.float32)
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        feat = x[int(b)]
        sx, sy = x1 * scale - 0.5, y1 * scale - 0.5
        bw, bh = (x2 - x1) * scale / pw_n, (y2 - y1) * scale / ph_n
        for ph in range(ph_n):
            for pw in range(pw_n):
                acc = np.zeros(channels, np.float32)
                for iy in range(ratio):
                    y = sy + ph * bh + (iy + 0.5) * bh / ratio
                    for ix in range(ratio):
                        xx = sx + pw * bw + (ix + 0.5) * bw / ratio
                        if y < -1 or y > height or xx < -1 or xx > width:
                            continue
                        yc, xc = max(y, 0.0), max(xx, 0.0)
                        y0, x0 = min(int(yc), height - 1), min(int(xc), width - 1)
                        y1_, x1_ = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
                        ly = yc - y0 if y0 < height - 1 else 0.0
                        lx = xc - x0 if x0 < width - 1 else 0.0
                        acc += ((1 - ly) * (1 - lx) * feat[:, y0, x0] + (1 - ly) * lx * feat[:, y0, x1_]
                                + ly * (1 - lx) * feat[:, y1_, x0] + ly * lx * feat[:, y1_, x1_])
                out[k, :, ph, pw] = acc / (ratio * ratio)
    return out


def naive_roi_pool(x, rois, output_size=OUTPUT, scale=SCALE):
    ph_n, pw_n = output_size
    _, channels, height, width = x.shape
    out = np.zeros((len(rois), channels, ph_n, pw_n), np.float32)
    c_round = lambda v: int(np.floor(abs(v) + 0.5) * np.sign(v))  # noqa: E731
    for k, (b, x1, y1, x2, y2) in enumerate(rois):
        feat = x[int(b)]
        xs, ys = c_round(np.float32(x1) * np.float32(scale)), c_round(np.float32(y1) * np.float32(scale))
        xe, ye = c_round(np.float32(x2) * np.float32(scale)), c_round(np.float32(y2) * np.float32(scale))
        bw = np.float32(max(xe - xs + 1, 1)) / np.float32(pw_n)
        bh = np.float32(max(ye - ys + 1, 1)) / np.float32(ph_n)
        for ph in range(ph_n):
            h0 = min(max(int(np.floor(np.float32(ph) * bh)) + ys, 0), height)
            h1 = min(max(int(np.ceil(np.float32(ph + 1) * bh)) + ys, 0), height)
            for pw in range(pw_n):
                w0 = min(max(int(np.floor(np.float32(pw) * bw)) + xs, 0), width)
                w1 = min(max(int(np.ceil(np.float32(pw + 1) * bw)) + xs, 0), width)
                if h1 > h0 and w1 > w0:
                    out[k, :, ph, pw] = feat[:, h0:h1, w0:w1].max(axis=(1, 2))
    return out


# ----------------------------------------------------------------------------------------------


def median_seconds(fn, runs: int, warmup: int = 2) -> float:
    # Let the previous block's idle threads stop spinning (ORT's pool and OpenMP both spin for a
    # while after a parallel region and would steal the 2 cores from the next block).
    time.sleep(0.3)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(fns, runs: int, warmup: int = 1) -> list[float]:
    """Median seconds of each function, timed in turn within every round (see median_seconds)."""
    time.sleep(0.3)
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(runs):
        for fn, t in zip(fns, times):
            start = time.perf_counter()
            fn()
            t.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def fpn_workload(seed: int = 0):
    """The FPN head's inputs: ``{name: float32 [2, 256, H/s, W/s]}`` and two ``[1000, 4]`` box arrays."""
    rng = np.random.default_rng(seed)
    height, width = FPN_IMAGE
    maps = {name: rng.standard_normal((N, C, height // s, width // s), dtype=np.float32)
            for name, s in zip(FPN_NAMES, FPN_STRIDES)}
    boxes = []
    for _ in range(N):
        cx, cy = rng.uniform(0, width, FPN_BOXES_PER_IMAGE), rng.uniform(0, height, FPN_BOXES_PER_IMAGE)
        bw, bh = np.exp(rng.uniform(np.log(16), np.log(800), (2, FPN_BOXES_PER_IMAGE)))
        boxes.append(np.column_stack([np.clip(cx - bw / 2, 0, width), np.clip(cy - bh / 2, 0, height),
                                      np.clip(cx + bw / 2, 0, width), np.clip(cy + bh / 2, 0, height)]
                                     ).astype(np.float32))
    return maps, boxes


def load_average() -> str:
    """The 1-minute load average (the machine is shared: say how busy it was)."""
    return f"{os.getloadavg()[0]:.2f}"


def bench_fpn(runs: int, threads: int | None = None) -> None:
    """``MultiScaleRoIAlign`` vs the sum of ORT ``RoiAlign`` over the levels, both ``aligned``.

    ``threads``: torch's intra-op threads and ORT's, the same number for both; ``None`` runs
    1 and then 2 (the machine's cores, torch's and ORT's default here).
    """
    maps, boxes = fpn_workload()
    xt = {k: torch.from_numpy(v) for k, v in maps.items()}
    bt = [torch.from_numpy(b) for b in boxes]
    shapes = [FPN_IMAGE] * N
    rois = np.vstack([np.column_stack([np.full(len(b), i, np.float32), b]) for i, b in enumerate(boxes)])
    results, counts = {}, {}
    for n_threads in ((1, 2) if threads is None else (threads,)):
        torch.set_num_threads(n_threads)
        for aligned in (False, True):
            levels = fpn_levels(torch.from_numpy(rois[:, 1:]), 2, 5, **level_rule(aligned)).numpy()
            counts[aligned] = [int((levels == k).sum()) for k in range(2, 6)]
            per_level = []
            for k, name, stride in zip(range(2, 6), FPN_NAMES, FPN_STRIDES):
                idx = np.nonzero(levels == k)[0]
                sess = align_session(OUTPUT, 1 / stride, RATIO, aligned, "avg", intra_op_threads=n_threads)
                feed = {"X": maps[name], "rois": np.ascontiguousarray(rois[idx, 1:]),
                        "bi": rois[idx, 0].astype(np.int64)}
                per_level.append((idx, sess, feed))

            def ort_levels():
                out = np.zeros((len(rois), C) + OUTPUT, np.float32)
                for idx, sess, feed in per_level:
                    out[idx] = sess.run(None, feed)[0]
                return out

            def ort_levels_only():     # the four kernel calls alone, no scatter into one array
                for _, sess, feed in per_level:
                    sess.run(None, feed)

            pooler = MultiScaleRoIAlign(list(FPN_NAMES), OUTPUT, RATIO, aligned=aligned)
            with torch.no_grad():
                ours = lambda: pooler(xt, bt, shapes)  # noqa: E731
                err = float(np.abs(ours().numpy() - ort_levels()).max())
                assert err <= 1e-5, err
                load_before = load_average()
                # Interleaved (ours, ORT, ORT + scatter, ours, ...) so that a busy moment of a
                # shared machine hits all three alike.
                medians = interleaved_medians([ours, ort_levels_only, ort_levels], runs)
            results[n_threads, aligned] = (medians, err, f"{load_before} -> {load_average()}")
    print(f"\nFPN head: 2 images {FPN_IMAGE[0]} x {FPN_IMAGE[1]}, P2-P5 {C} channels "
          f"({', '.join(f'{v.shape[2]} x {v.shape[3]}' for v in maps.values())}), "
          f"{FPN_BOXES_PER_IMAGE} boxes per image, output {OUTPUT[0]} x {OUTPUT[1]}, sampling_ratio {RATIO}")
    print(f"boxes per level P2..P5: aligned=False {counts[False]}, aligned=True {counts[True]}")
    print(f"medians over {runs} interleaved runs after warm-up; torch and ONNX Runtime with the same "
          f"intra-op threads; 1-minute load average before -> after each block\n")
    print("| threads | op | aligned=False (torchvision) ms | aligned=True (Detectron2 `ROIAlignV2`) ms |")
    print("|---:|---|---:|---:|")
    names = ("`MultiScaleRoIAlign` (roiviz)", "`RoiAlign` x 4 levels (ONNX Runtime, sum)",
             "`RoiAlign` x 4 levels + scatter (ONNX Runtime)")
    for n_threads in sorted({t for t, _ in results}):
        for row, name in enumerate(names):
            cells = []
            for aligned in (False, True):
                medians = results[n_threads, aligned][0]
                cells.append(f"{medians[row] * 1e3:.1f} ({medians[row] / medians[1]:.2f}x)")
            print(f"| {n_threads} | {name} | {cells[0]} | {cells[1]} |")
    for (n_threads, aligned), (_, err, load) in sorted(results.items()):
        print(f"threads {n_threads}, aligned={aligned}: largest |roiviz - ORT| {err:.2g}, load average {load}")


def bench_box_grad(runs: int) -> None:
    """Box gradients on the head workload (issue 17's bar: backward <= 3x forward).

    For ``roi_align`` (sr 2, aligned) and ``precise_roi_pool``: the forward with nothing
    requiring grad; the backward alone (``out.backward(g)`` on a fresh graph each run) with the
    features and the boxes requiring grad; and its ratio to the forward. Then torchvision
    0.28.0's differentiable Python ``_roi_align`` (loaded from the wheel's file by
    tests/torchvision_oracle.py; eager, as ``torch.compile`` is not what a CPU user gets without
    a compiler) forward + backward with box gradients, against roiviz's forward + backward.
    Interleaved run by run; the load average is printed with the table.
    """
    from torchvision_oracle import reference_roi_align

    x, rois = workload()
    xt, rt = torch.from_numpy(x), torch.from_numpy(rois)
    grad_out = torch.randn(K, C, *OUTPUT, generator=torch.Generator().manual_seed(1))
    ops = {
        "roi_align": lambda f, b: roi_align(f, b, OUTPUT, SCALE, RATIO, True),
        "precise_roi_pool": lambda f, b: precise_roi_pool(f, b, OUTPUT, SCALE),
    }
    tv = reference_roi_align()
    ops_tv = lambda f, b: tv(f, b, SCALE, OUTPUT[0], OUTPUT[1], RATIO, True)  # noqa: E731

    def forward(op):
        def run():
            with torch.no_grad():
                op(xt, rt)
        return run

    def backward_alone(op):
        def run():
            xg, bg = xt.clone().requires_grad_(), rt.clone().requires_grad_()
            out = op(xg, bg)
            start = time.perf_counter()
            out.backward(grad_out)
            run.seconds.append(time.perf_counter() - start)
        run.seconds = []
        return run

    def forward_backward(op):
        def run():
            xg, bg = xt.clone().requires_grad_(), rt.clone().requires_grad_()
            op(xg, bg).backward(grad_out)
        return run

    # The two box gradients agree before anything is timed.
    grads = []
    for op in (ops["roi_align"], ops_tv):
        bg = rt.clone().requires_grad_()
        op(xt, bg).backward(grad_out)
        grads.append(bg.grad)
    err = float((grads[0] - grads[1]).abs().max() / grads[1].abs().max())

    rows = []
    for name, op in ops.items():
        back = backward_alone(op)
        t_fwd, _ = interleaved_medians([forward(op), back], runs)
        t_back = statistics.median(back.seconds[-runs:])
        spread = (min(back.seconds[-runs:]) * 1e3, max(back.seconds[-runs:]) * 1e3)
        rows.append((name, t_fwd, t_back, spread))
    t_ours, t_tv = interleaved_medians([forward_backward(ops["roi_align"]), forward_backward(ops_tv)],
                                       max(2, runs // 4))
    print(f"\nBox gradients, head workload ({K} boxes, {C} channels, {OUTPUT[0]} x {OUTPUT[1]}, sr {RATIO}, "
          f"aligned); torch threads {torch.get_num_threads()}; load average {load_average()}")
    print(f"roi_align box gradient vs torchvision _roi_align: largest relative difference {err:.2g}")
    print("| op | forward ms (no grad) | backward ms (features + boxes) [min-max] | backward / forward |")
    print("|---|---:|---:|---:|")
    for name, t_fwd, t_back, (lo, hi) in rows:
        print(f"| {name} | {t_fwd * 1e3:.1f} | {t_back * 1e3:.1f} [{lo:.0f}-{hi:.0f}] | {t_back / t_fwd:.2f}x |")
    print(f"| roi_align forward + backward (roiviz) | | {t_ours * 1e3:.1f} | |")
    print(f"| torchvision `_roi_align` forward + backward (eager) | | {t_tv * 1e3:.1f} | "
          f"{t_tv / t_ours:.1f}x roiviz's |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--naive-runs", type=int, default=3)
    parser.add_argument("--fpn", action="store_true", help="run only the FPN head workload")
    parser.add_argument("--threads", type=int, default=None,
                        help="FPN workload: intra-op threads for torch and ONNX Runtime alike "
                             "(default: 1, then 2); --box-grad: torch's threads")
    parser.add_argument("--box-grad", action="store_true",
                        help="run only the box-gradient benchmark (issue 17)")
    args = parser.parse_args()
    if args.box_grad:
        if args.threads:
            torch.set_num_threads(args.threads)
        bench_box_grad(args.runs)
        return
    if args.fpn:
        bench_fpn(args.runs, args.threads)
        return

    x, rois = workload()
    xt, rt = torch.from_numpy(x), torch.from_numpy(rois)
    boxes, batch = np.ascontiguousarray(rois[:, 1:]), rois[:, 0].astype(np.int64)
    align_sess = align_session(OUTPUT, SCALE, RATIO, True, "avg", intra_op_threads=None)
    pool_sess = pool_session(OUTPUT, SCALE, intra_op_threads=None)
    ort_align = lambda: align_sess.run(None, {"X": x, "rois": boxes, "bi": batch})[0]  # noqa: E731
    ort_pool = lambda: pool_sess.run(None, {"X": x, "rois": rois})[0]  # noqa: E731

    with torch.no_grad():
        ours_align = lambda: roi_align(xt, rt, OUTPUT, SCALE, RATIO, True)  # noqa: E731
        ours_pool = lambda: roi_pool(xt, rt, OUTPUT, SCALE)  # noqa: E731
        # Correctness first.
        err_align = float(np.abs(ours_align().numpy() - ort_align()).max())
        err_pool = float(np.abs(ours_pool().numpy() - ort_pool()).max())
        sub = rois[:NAIVE_BOXES]
        err_naive_align = float(np.abs(naive_roi_align(x, sub) - ort_align()[:NAIVE_BOXES]).max())
        err_naive_pool = float(np.abs(naive_roi_pool(x, sub) - ort_pool()[:NAIVE_BOXES]).max())
        assert max(err_align, err_pool) <= 1e-5, (err_align, err_pool)
        assert max(err_naive_align, err_naive_pool) <= 1e-4, (err_naive_align, err_naive_pool)

        rows = []
        t_ort_align = median_seconds(ort_align, args.runs)
        t_ort_pool = median_seconds(ort_pool, args.runs)
        scale_naive = K / NAIVE_BOXES
        rows.append(("roi_align avg (roiviz)", median_seconds(ours_align, args.runs), t_ort_align))
        rows.append(("RoiAlign (ONNX Runtime)", t_ort_align, t_ort_align))
        rows.append((f"roi_align naive loop (x{scale_naive:g} from {NAIVE_BOXES} boxes)",
                     median_seconds(lambda: naive_roi_align(x, sub), args.naive_runs, 1) * scale_naive,
                     t_ort_align))
        rows.append(("roi_pool (roiviz)", median_seconds(ours_pool, args.runs), t_ort_pool))
        rows.append(("MaxRoiPool (ONNX Runtime)", t_ort_pool, t_ort_pool))
        rows.append((f"roi_pool naive loop (x{scale_naive:g} from {NAIVE_BOXES} boxes)",
                     median_seconds(lambda: naive_roi_pool(x, sub), args.naive_runs, 1) * scale_naive,
                     t_ort_pool))
        rows.append(("roi_warp avg (roiviz)",
                     median_seconds(lambda: roi_warp(xt, rt, OUTPUT, SCALE, RATIO), args.runs), None))
        rows.append(("precise_roi_pool (roiviz)",
                     median_seconds(lambda: precise_roi_pool(xt, rt, OUTPUT, SCALE), args.runs), None))

    xg = xt.clone().requires_grad_(True)
    grad_out = torch.randn(K, C, *OUTPUT, generator=torch.Generator().manual_seed(1))

    def forward_backward():
        xg.grad = None
        roi_align(xg, rt, OUTPUT, SCALE, RATIO, True).backward(grad_out)

    graph = roi_align(xg, rt, OUTPUT, SCALE, RATIO, True)

    def backward_only():
        xg.grad = None
        graph.backward(grad_out, retain_graph=True)

    rows.append(("roi_align backward only (roiviz)", median_seconds(backward_only, args.runs), None))
    rows.append(("roi_align forward + backward (roiviz)", median_seconds(forward_backward, args.runs), None))

    print(f"Workload: input {N} x {C} x {H} x {W} float32, {K} boxes, output {OUTPUT[0]} x {OUTPUT[1]}, "
          f"spatial_scale 1/16, sampling_ratio {RATIO}, aligned=True")
    print(f"torch.get_num_threads() = {torch.get_num_threads()}; ONNX Runtime intra-op threads: default")
    print(f"max |roiviz - ORT|: roi_align {err_align:.2g}, roi_pool {err_pool:.2g}; "
          f"naive loops vs ORT: {err_naive_align:.2g}, {err_naive_pool:.2g}")
    print(f"medians over {args.runs} runs after warm-up (naive: {args.naive_runs} runs)\n")
    print("| op | median ms | vs ORT |")
    print("|---|---:|---:|")
    for name, seconds, reference in rows:
        ratio = f"{seconds / reference:.2f}x" if reference else ""
        print(f"| {name} | {seconds * 1e3:.1f} | {ratio} |")
    bench_fpn(args.runs, args.threads)


if __name__ == "__main__":
    main()
