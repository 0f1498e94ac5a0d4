"""Distributed trainscope on Gloo over loopback (docs/distributed.md).

The process group is created here with torch.distributed and handed to the C++ functions through a
small torch extension (extension.cpp), built once into the build tree. Each scenario runs in freshly
spawned processes under a watchdog: a hang fails the test instead of blocking CI.

Usage: distributed_test.py --source-dir DIR --build-dir DIR [--worlds 2,4]
"""
import argparse
import importlib
import math
import os
import queue
import sys
import tempfile
import time
import traceback
from datetime import timedelta

EXT_NAME = "trainscope_distributed_ext"
BINS = 16
WATCHDOG_S = 150


# ---------------------------------------------------------------- extension

def build_extension(source_dir, build_dir):
    from torch.utils import cpp_extension
    ext_dir = os.path.join(build_dir, "tests", "distributed", "extension")
    os.makedirs(ext_dir, exist_ok=True)
    lib_dirs = [os.path.join(build_dir, "src"), os.path.join(build_dir, "src", "torch")]
    ldflags = [f"-L{d}" for d in lib_dirs] + ["-ltrainscope_torch", "-ltrainscope"]
    ldflags += [f"-Wl,-rpath,{d}" for d in lib_dirs]
    # load() rebuilds only when the source or flags change: once per build tree.
    cpp_extension.load(
        name=EXT_NAME,
        sources=[os.path.join(source_dir, "tests", "distributed", "extension.cpp")],
        # src/torch too: "callback/policy.h" (the Callback's best tracking) lives in src/ or src/torch/.
        extra_include_paths=[os.path.join(source_dir, d) for d in ("include", "src", "src/torch")],
        extra_cflags=["-O1", "-std=c++17"],
        extra_ldflags=ldflags,
        build_directory=ext_dir,
        verbose=False,
    )
    return ext_dir


def import_extension(ext_dir):
    sys.path.insert(0, ext_dir)
    import torch  # noqa: F401  (loads libtorch before the extension)
    return importlib.import_module(EXT_NAME)


# ---------------------------------------------------------------- data

def split_points(n, world, gen, empty_rank=None):
    """Uneven cut points of n elements into `world` shards; shard `empty_rank` is empty."""
    import torch
    cuts = sorted(torch.randint(0, n + 1, (world - 1,), generator=gen).tolist())
    bounds = [0] + cuts + [n]
    sizes = [bounds[i + 1] - bounds[i] for i in range(world)]
    if empty_rank is not None:
        give = sizes[empty_rank]
        sizes[empty_rank] = 0
        sizes[(empty_rank + 1) % world] += give
    out, start = [], 0
    for s in sizes:
        out.append((start, start + s))
        start += s
    return out


def histogram_cases(world):
    """name → (full tensor, per-rank (begin, end)); the same on every rank (fixed seeds)."""
    import torch
    g = torch.Generator().manual_seed(1234 + world)
    cases = {}
    full = torch.randn(20011, generator=g)
    cases["random"] = (full, split_points(full.numel(), world, g))

    # NaN and ±Inf only inside the last rank's shard (uneven: the last shard is the largest).
    full = torch.randn(5003, generator=g) * 3
    n = full.numel()
    cuts = [n * (r + 1) // world - 97 * (r + 1) for r in range(world - 1)]
    bounds = [(a, b) for a, b in zip([0] + cuts, cuts + [n])]
    b, e = bounds[-1]
    full[b], full[b + 1], full[e - 1] = float("nan"), float("inf"), float("-inf")
    cases["nonfinite_one_rank"] = (full, bounds)

    full = torch.rand(4001, generator=g, dtype=torch.float64) * 10 - 5
    cases["empty_shard"] = (full, split_points(full.numel(), world, g, empty_rank=0))

    # One rank's shard is constant (and holds the global maximum), the others random.
    full = torch.rand(3001, generator=g)
    bounds = split_points(full.numel(), world, g)
    b, e = bounds[1]
    full[b:e] = 2.5
    cases["constant_shard"] = (full, bounds)

    full = torch.full((777,), -1.25, dtype=torch.float16)  # every shard the same value: one bin
    cases["all_constant"] = (full, split_points(full.numel(), world, g))

    full = torch.full((64,), float("nan"))  # no finite value: statistics only
    cases["all_nan"] = (full, split_points(full.numel(), world, g))

    full = torch.randint(-1000, 1000, (9001,), generator=g, dtype=torch.int64)
    cases["int64"] = (full, split_points(full.numel(), world, g))

    full = torch.randn(6007, generator=g).to(torch.bfloat16)
    cases["bfloat16"] = (full, split_points(full.numel(), world, g))

    # float64 spanning almost the whole range: the op's halved ("wide") bin rule.
    full = (torch.rand(3001, generator=g, dtype=torch.float64) * 2 - 1) * 1.7e308
    full[0], full[1] = -1.7976931348623157e308, 1.7976931348623157e308
    cases["wide_float64"] = (full, split_points(full.numel(), world, g))
    return cases


def shard_of(full, bounds, rank, name):
    """This rank's shard; odd ranks get the random case as a strided (transposed) view."""
    b, e = bounds[rank]
    shard = full[b:e]
    if name == "random" and rank % 2 == 1 and shard.numel() % 2 == 0:
        return shard.view(2, -1).t()
    return shard


# ---------------------------------------------------------------- workers

def init_group(rank, world, store, timeout_s):
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=timeout_s))
    return dist.group.WORLD


def worker(scenario, rank, world, store, ext_dir, tmp, results):
    try:
        import torch
        torch.set_num_threads(1)
        ext = import_extension(ext_dir)
        group = init_group(rank, world, store, 20 if scenario == "main" else 6)
        out = SCENARIOS[scenario](ext, group, rank, world, tmp)
        results.put((rank, "ok", out))
    except BaseException:  # reported to the parent, which fails the test
        results.put((rank, "exception", traceback.format_exc()))
    finally:
        results.close()
        results.join_thread()  # the result is sent before the process ends
        sys.stdout.flush()
        os._exit(0)  # no destroy_process_group: peers may be gone


def scenario_main(ext, group, rank, world, tmp):
    import torch
    out = {}
    # Sharded histograms: the whole list in one call (one packed collective per pass), plus a
    # replicated tensor that only rank 0 histograms.
    cases = histogram_cases(world)
    names = list(cases)
    shards = [shard_of(full, bounds, rank, name) for name, (full, bounds) in cases.items()]
    replicated = torch.linspace(-2, 3, 101)
    out["hist"] = ext.histograms(group, names + ["replicated"], shards + [replicated], names, BINS, 0)
    if rank == 0:
        out["replicated_reference"] = ext.reference([replicated], BINS)[0]
    out["hist7"] = ext.histograms(group, ["random"], [shards[0]], ["random"], 7, 0)

    # Metric reduction: mean by default, sum / min / max per key.
    metrics = {
        "loss": torch.tensor(1.0 + rank, dtype=torch.float32),
        "acc": torch.tensor(0.1 * rank + 0.05, dtype=torch.float64),
        "samples": torch.tensor([100 + rank], dtype=torch.int64),
        "worst": torch.tensor(float(rank * rank)),
        "best": torch.tensor(float(-rank)),
    }
    reduce = {"samples": "sum", "worst": "max", "best": "min"}
    out["metrics"] = {k: v.item() for k, v in ext.reduce_metrics(group, metrics, reduce, 0).items()}
    # Without the agreement header (the host-sync-free form for NCCL): the same values.
    out["metrics_unchecked"] = {k: v.item() for k, v in ext.reduce_metrics(group, metrics, reduce, 0, False).items()}

    # Best tracking on the reduced monitored value; locally every rank would decide differently.
    local = [1.0 + 0.3 * math.sin(e * (rank + 1)) - 0.05 * e for e in range(8)]
    out["local_values"] = local
    out["best"] = ext.best_decisions(group, "val_loss", local, "min")

    # A bad input on one rank: the same error on every rank, then the group still works.
    errors = {}
    t0 = time.monotonic()
    bad = torch.zeros(10, dtype=torch.complex64) if rank == world - 1 else torch.zeros(10)
    try:
        ext.histograms(group, ["w"], [bad], ["w"], BINS, 0)
    except RuntimeError as e:
        errors["histogram_dtype"] = str(e)
    try:
        m = {"loss": torch.zeros(2) if rank == 0 else torch.zeros(())}
        ext.reduce_metrics(group, m, {}, 0)
    except RuntimeError as e:
        errors["metric_shape"] = str(e)
    try:
        ext.reduce_metrics(group, {f"loss{rank % 2}": torch.zeros(())}, {}, 0)
    except RuntimeError as e:
        errors["metric_names"] = str(e)
    try:
        ext.histograms(group, ["a", "b"][: 1 + (rank == 0)], [torch.zeros(3)] * (1 + (rank == 0)), ["a", "b"], BINS, 0)
    except RuntimeError as e:
        errors["histogram_count"] = str(e)
    out["errors"] = errors
    out["error_seconds"] = time.monotonic() - t0
    out["after_errors"] = ext.reduce_metrics(group, {"x": torch.tensor(float(rank))}, {"x": "sum"}, 0)["x"].item()

    # Only rank 0 writes the run directory.
    root = os.path.join(tmp, "runs")
    out["run_dir"], out["callback_best"] = ext.callback_epoch(group, root, torch.arange(10.0) + 10 * rank, float(rank), 0.5 + 0.1 * rank)
    return out


def scenario_straggler(ext, group, rank, world, tmp):
    """Rank 1 never makes the call (it threw elsewhere, say): rank 0 must fail within the timeout."""
    import torch
    if rank == 1:
        time.sleep(6)  # past rank 0's 2 s timeout, still connected
        return {}
    t0 = time.monotonic()
    try:
        ext.reduce_metrics(group, {"loss": torch.zeros(())}, {}, 2000)
        return {"error": None, "seconds": time.monotonic() - t0}
    except RuntimeError as e:
        return {"error": str(e), "seconds": time.monotonic() - t0}


def scenario_death(ext, group, rank, world, tmp):
    """Rank 1 dies before the call: rank 0 fails (peer gone or the group's 6 s timeout)."""
    import torch
    if rank == 1:
        os._exit(3)
    time.sleep(0.5)
    t0 = time.monotonic()
    try:
        ext.histograms(group, ["w"], [torch.randn(100)], ["w"], BINS, 0)
        return {"error": None, "seconds": time.monotonic() - t0}
    except RuntimeError as e:
        return {"error": str(e), "seconds": time.monotonic() - t0}


SCENARIOS = {"main": scenario_main, "straggler": scenario_straggler, "death": scenario_death}


def launch(scenario, world, ext_dir, expect_ranks=None):
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    tmp = tempfile.mkdtemp(prefix=f"ts-dist-{scenario}-")
    store = os.path.join(tmp, "store")
    results = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(scenario, r, world, store, ext_dir, tmp, results)) for r in range(world)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    expect = world if expect_ranks is None else expect_ranks
    got = {}
    deadline = t0 + WATCHDOG_S
    while len(got) < expect:
        try:
            rank, status, payload = results.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            for p in procs:
                p.kill()
            raise AssertionError(f"{scenario} (world {world}): hang: ranks {sorted(set(range(world)) - set(got))} "
                                 f"did not finish within {WATCHDOG_S} s")
        if status != "ok":
            for p in procs:
                p.kill()
            raise AssertionError(f"{scenario} (world {world}) rank {rank} raised:\n{payload}")
        got[rank] = payload
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
    print(f"[distributed] {scenario} world {world}: {time.monotonic() - t0:.1f} s", flush=True)
    return got, tmp


# ---------------------------------------------------------------- checks

def check(cond, what):
    if not cond:
        raise AssertionError(what)


def same_values(a, b):
    """Equal, with NaN equal to NaN (sums of the wide case overflow)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b))
    return a == b


def close(a, b, rel=1e-9, abs_=0.0):
    return same_values(a, b) or (math.isfinite(a) and math.isfinite(b) and abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_))


def same_histogram(got, ref, where):
    for key in ("counts", "edges", "count", "nan_count", "pos_inf_count", "neg_inf_count", "min", "max"):
        check(got[key] == ref[key], f"{where}: {key}: {got[key]} != reference {ref[key]}")
    for key in ("sum", "sum_squares", "mean", "std"):
        if not math.isfinite(ref[key]):  # overflowed: which non-finite value depends on the order
            check(not math.isfinite(got[key]), f"{where}: {key}: {got[key]} vs reference {ref[key]}")
            continue
        scale = math.sqrt(ref["sum_squares"]) if math.isfinite(ref["sum_squares"]) else 0.0
        check(close(got[key], ref[key], 1e-9, 1e-12 * scale), f"{where}: {key}: {got[key]} vs reference {ref[key]}")


def check_main(ext, world, got, tmp):
    import torch
    cases = histogram_cases(world)
    names = list(cases)
    # Every rank holds identical results (the sharded ones on all ranks, bit for bit).
    for r in range(1, world):
        for i, name in enumerate(names):
            check(same_values(got[r]["hist"][i], got[0]["hist"][i]), f"rank {r} '{name}' differs from rank 0")
    for i, name in enumerate(names):
        full, _ = cases[name]  # the concatenation of the shards
        ref = ext.reference([full], BINS)[0]
        same_histogram(got[0]["hist"][i], ref, f"world {world} '{name}'")
    # Independent of the op: torch.histc over the global range agrees on random data.
    rnd = got[0]["hist"][names.index("random")]
    full = cases["random"][0].double()
    histc = torch.histc(full, bins=BINS, min=full.min().item(), max=full.max().item()).long().tolist()
    check(rnd["counts"] == histc, f"random: counts {rnd['counts']} != torch.histc {histc}")
    check(sum(rnd["counts"]) == full.numel(), "random: counts do not add up")
    nonfinite = got[0]["hist"][names.index("nonfinite_one_rank")]
    check((nonfinite["nan_count"], nonfinite["pos_inf_count"], nonfinite["neg_inf_count"]) == (1, 1, 1),
          f"non-finite counts {nonfinite}")
    check(got[0]["hist"][names.index("all_constant")]["counts"] == [777], "all_constant: one bin of 777")
    check(got[0]["hist"][names.index("all_nan")]["counts"] == [], "all_nan: no histogram")
    # Replicated: rank 0 only, the single-process op.
    check(same_values(got[0]["hist"][-1], got[0]["replicated_reference"]), "replicated histogram on rank 0")
    for r in range(1, world):
        check(got[r]["hist"][-1] is None, f"rank {r} histogrammed a replicated tensor")
    ref7 = ext.reference([cases["random"][0]], 7)[0]
    same_histogram(got[0]["hist7"][0], ref7, "random, 7 bins")

    # Metrics.
    expect = {
        "loss": sum(1.0 + r for r in range(world)) / world,
        "acc": sum(0.1 * r + 0.05 for r in range(world)) / world,
        "samples": float(sum(100 + r for r in range(world))),
        "worst": float((world - 1) ** 2),
        "best": float(-(world - 1)),
    }
    for r in range(world):
        check(got[r]["metrics"] == got[0]["metrics"], f"rank {r} metrics differ from rank 0")
        check(got[r]["metrics_unchecked"] == got[0]["metrics"], f"rank {r}: check_agreement=False changed the values")
        for k, v in expect.items():
            check(close(got[r]["metrics"][k], v, 1e-15), f"metric {k}: {got[r]['metrics'][k]} != {v}")
        check(got[r]["after_errors"] == sum(range(world)), "group unusable after agreed errors")

    # Best decisions: identical on all ranks and those of the mean; local ones would disagree.
    means = [sum(got[r]["local_values"][e] for r in range(world)) / world for e in range(8)]
    expect_best, best = [], math.inf
    for m in means:
        expect_best.append(m < best)
        best = min(best, m)
    local_decisions = []
    for r in range(world):
        check(got[r]["best"] == expect_best, f"rank {r} best decisions {got[r]['best']} != {expect_best}")
        b, dec = math.inf, []
        for v in got[r]["local_values"]:
            dec.append(v < b)
            b = min(b, v)
        local_decisions.append(dec)
    check(any(d != local_decisions[0] for d in local_decisions), "test data: local decisions should differ")

    # Agreed errors: the same message on every rank, naming the failing rank, quickly.
    for key, rank_named in (("histogram_dtype", world - 1), ("metric_shape", 0)):
        for r in range(world):
            msg = got[r]["errors"].get(key)
            check(msg is not None, f"rank {r}: no error for {key}")
            check(msg == got[0]["errors"][key], f"rank {r}: {key} error differs: {msg!r} vs {got[0]['errors'][key]!r}")
            check(f"failed on rank {rank_named}" in msg, f"{key}: {msg!r} does not name rank {rank_named}")
    check("unsupported dtype" in got[0]["errors"]["histogram_dtype"], got[0]["errors"]["histogram_dtype"])
    for key in ("metric_names", "histogram_count"):
        for r in range(world):
            check(got[r]["errors"].get(key) == got[0]["errors"][key] and "disagree" in got[0]["errors"][key],
                  f"rank {r}: {key}: {got[r]['errors'].get(key)!r}")
    if world == 2:
        for key, msg in got[0]["errors"].items():
            print(f"[distributed] agreed error '{key}': {msg}", flush=True)
    for r in range(world):
        check(got[r]["error_seconds"] < 10, f"rank {r}: agreed errors took {got[r]['error_seconds']:.1f} s")

    # The Callback under the group: only rank 0 wrote one run directory, with the reduced metrics,
    # the sharded parameter's histogram of every rank's shard, and the best of the reduced val_acc,
    # which every rank's callback holds.
    import json
    root = os.path.join(tmp, "runs")
    dirs = os.listdir(root)
    check(len(dirs) == 1, f"expected one run directory, found {dirs}")
    check(os.path.basename(got[0]["run_dir"].rstrip("/")) == dirs[0], f"run directory {got[0]['run_dir']}")
    for r in range(1, world):
        check(got[r]["run_dir"] == "", f"rank {r} opened a run")
    with open(os.path.join(root, dirs[0], "history.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    check(len(rows) == 1, f"history rows {rows}")  # the epoch row merges into the batch row of step 0
    check(close(rows[0]["loss"], sum(range(world)) / world, 1e-15), f"logged loss {rows[0]['loss']}")
    mean_acc = sum(0.5 + 0.1 * r for r in range(world)) / world
    check(close(rows[0]["val_acc"], mean_acc, 1e-12), f"logged val_acc {rows[0]['val_acc']}")
    hist = rows[0]["parameters/weight"]
    check(sum(hist["values"]) == 10 * world, f"logged histogram {hist}")
    check(hist["bins"][0] == 0 and hist["bins"][-1] == 10 * world - 1, f"histogram range {hist['bins'][0]}..{hist['bins'][-1]}")
    with open(os.path.join(root, dirs[0], "summary.json")) as f:
        summary = json.load(f)
    check(close(summary["best_val_acc"], mean_acc, 1e-12), f"summary best_val_acc {summary.get('best_val_acc')}")
    for r in range(world):
        check(close(got[r]["callback_best"], mean_acc, 1e-12), f"rank {r}: callback best {got[r]['callback_best']}")


def check_no_group(ext):
    """Without a group: the single-process op and the metrics as given."""
    import torch
    x = torch.randn(1000, generator=torch.Generator().manual_seed(5))
    got = ext.histograms(None, ["x", "y"], [x, x[:10]], ["x"], BINS, 0)
    check(same_values(got, ext.reference([x, x[:10]], BINS)), "no group: histograms differ from the op")
    m = ext.reduce_metrics(None, {"loss": torch.tensor(0.25), "n": torch.tensor([3])}, {"n": "sum"}, 0)
    check({k: v.item() for k, v in m.items()} == {"loss": 0.25, "n": 3.0}, f"no group: metrics {m}")
    check(ext.rank(None) == 0, "no group: rank 0")


def check_failure(world, got, scenario, limit_s):
    r0 = got[0]
    print(f"[distributed] {scenario}: after {r0['seconds']:.1f} s: {r0['error']}", flush=True)
    check(r0["error"] is not None, f"{scenario}: rank 0 returned without an error")
    check("collective failed on rank 0" in r0["error"], f"{scenario}: unexpected error {r0['error']!r}")
    check(r0["seconds"] < limit_s, f"{scenario}: error after {r0['seconds']:.1f} s (limit {limit_s} s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--worlds", default="2,4")
    args = ap.parse_args()
    t0 = time.monotonic()
    ext_dir = build_extension(os.path.abspath(args.source_dir), os.path.abspath(args.build_dir))
    print(f"[distributed] extension ready: {time.monotonic() - t0:.1f} s", flush=True)
    ext = import_extension(ext_dir)
    check_no_group(ext)
    for world in [int(w) for w in args.worlds.split(",")]:
        got, tmp = launch("main", world, ext_dir)
        check_main(ext, world, got, tmp)
    got, _ = launch("straggler", 2, ext_dir)
    check_failure(2, got, "straggler", 10)
    check("timed out" in got[0]["error"], "straggler: the 2 s timeout should have ended the wait")
    got, _ = launch("death", 2, ext_dir, expect_ranks=1)
    check_failure(2, got, "death", 15)
    print(f"[distributed] all passed in {time.monotonic() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
