"""Distributed trainscope on Gloo over loopback (docs/distributed.md).

The process group is created here with torch.distributed and handed to the C++ functions through a
small torch extension (extension.cpp), built once into the build tree. Each scenario runs in freshly
spawned processes under a watchdog: a hang fails the test instead of blocking CI.

Usage: distributed_test.py --source-dir DIR --build-dir DIR [--worlds 2,4]
"""
import argparse
import hashlib
import importlib
import json
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
    out["run_dir"], out["callback_best"], out["callback_checkpoint"] = ext.callback_epoch(
        group, root, torch.arange(10.0) + 10 * rank, float(rank), 0.5 + 0.1 * rank, "", 0)
    # Resumed with a worse val_acc: rank 0 restores the best and gives it to every rank, so no rank
    # sees an improvement (a rank that did would wait alone in the sharded save's collective).
    run_id = os.path.basename(out["run_dir"].rstrip("/")) if rank == 0 else ""
    _, out["resumed_best"], _ = ext.callback_epoch(
        group, root, torch.arange(10.0) + 10 * rank, float(rank), 0.1 * rank, run_id, 1)
    # Its best checkpoint is sharded ("weight" is): every rank loads its own shard back, from the
    # directory only rank 0 knows.
    loaded = ext.load_sharded(group, os.path.dirname(out["callback_checkpoint"]) if rank == 0 else "",
                              torch.zeros(10), None, "model-best")
    out["callback_loaded"] = (loaded["error"], torch.equal(loaded["weight"], torch.arange(10.0) + 10 * rank),
                              loaded["state"])
    out["ckpt"] = checkpoint_checks(ext, group, rank, world, tmp)
    return out


# ---------------------------------------------------------------- sharded checkpoints

def ckpt_values(rank, k):
    """This rank's shard of the test model at save number k: rank-specific shapes and values."""
    import torch
    g = torch.Generator().manual_seed(700 + 10 * rank + k)
    return torch.randn(3 + rank, 2, generator=g) + k, torch.randn(rank + 1, generator=g).double() - k


def ckpt_zeros(rank):
    import torch
    return torch.zeros(3 + rank, 2), torch.zeros(rank + 1, dtype=torch.float64)


def ckpt_load(ext, group, rank, directory, name="model", weight=None):
    """Loads into zero-initialised modules; (error, equals which save k (None: still zeros / other), state)."""
    import torch
    zw, zb = ckpt_zeros(rank)
    got = ext.load_sharded(group, directory if rank == 0 else "", zw if weight is None else weight, zb, name)
    which = None
    if weight is None and torch.equal(got["weight"], zw) and torch.equal(got["bias"], zb):
        which = 0
    for k in range(1, 6):
        w, b = ckpt_values(rank, k)
        if got["weight"].shape == w.shape and torch.equal(got["weight"], w) and torch.equal(got["bias"], b):
            which = k
    if weight is not None and torch.equal(got["weight"], weight) and torch.equal(got["bias"], zb):
        which = 0
    count_ok = got["count"].tolist() == [rank + 1]
    return got["error"], which, got["state"], count_ok


def ckpt_listing(directory):
    return sorted(f for f in os.listdir(directory) if not f.startswith("."))


def ckpt_save(ext, group, rank, directory, k, name="model"):
    """Save number k of ckpt_values with its state (k, 10k, 1/k); the error text, or None."""
    w, b = ckpt_values(rank, k)
    try:
        ext.save_sharded(group, directory if rank == 0 else "", w, b, (k, 10 * k, 1.0 / k), name, True)
        return None
    except RuntimeError as e:
        return str(e)


def checkpoint_checks(ext, group, rank, world, tmp):
    """Sharded checkpoints (docs/distributed.md#checkpoints). Only rank 0 passes the directory;
    files are changed between the calls by one rank, behind a barrier."""
    import torch
    import torch.distributed as dist
    out = {}
    d = os.path.join(tmp, "ckpt")
    out["saves"] = [ckpt_save(ext, group, rank, d, 1), ckpt_save(ext, group, rank, d, 2)]
    out["load"] = ckpt_load(ext, group, rank, d)
    dist.barrier()
    out["listing_after_2"] = ckpt_listing(d) if rank == 0 else None

    # World sizes: a checkpoint of one process (no group) into this group, and this group's into one process.
    if rank == 0:
        w, b = ckpt_values(0, 1)
        ext.save_sharded(None, os.path.join(tmp, "solo"), w, b, None, "model")
        out["load_into_one"] = ckpt_load(ext, None, 0, d)[0]
    dist.barrier()
    out["load_solo"] = ckpt_load(ext, group, rank, os.path.join(tmp, "solo"))[:2]

    # A corrupt shard (one byte of the last rank's flipped), then a missing one (rank 0's).
    with open(os.path.join(d, "model.index.json")) as f:
        index = json.load(f)
    last = os.path.join(d, index["shards"][world - 1]["file"])
    first = os.path.join(d, index["shards"][0]["file"])
    if rank == world - 1:
        with open(last, "r+b") as f:
            f.seek(os.path.getsize(last) // 2)
            byte = f.read(1)
            f.seek(-1, 1)
            f.write(bytes([byte[0] ^ 0xFF]))
    dist.barrier()
    out["load_corrupt"] = ckpt_load(ext, group, rank, d)[:2]
    dist.barrier()
    if rank == world - 1:
        with open(last, "r+b") as f:
            f.seek(os.path.getsize(last) // 2)
            f.write(byte)
    if rank == 0:
        os.rename(first, first + ".away")
    dist.barrier()
    out["load_missing"] = ckpt_load(ext, group, rank, d)[:2]
    dist.barrier()
    if rank == 0:
        os.rename(first + ".away", first)
    dist.barrier()
    # A module of another shape on rank 1 only: refused everywhere, and rank 0's module untouched.
    zw, _ = ckpt_zeros(rank)
    out["load_shape"] = ckpt_load(ext, group, rank, d, weight=torch.zeros(zw.shape[0] + (rank == 1), 2))[:2]

    # The last rank's shard is not what rank 0 sees (as on a filesystem they do not share): gone,
    # then one byte longer. Refused before the commit; the failed generation's files removed.
    failed = {}
    for action in ("unlink", "append"):
        ext.set_save_hook("shard-written", action if rank == world - 1 else "")
        failed[action] = ckpt_save(ext, group, rank, d, 3)
        ext.set_save_hook("", "")
    out["not_shared"] = failed
    out["load_after_not_shared"] = ckpt_load(ext, group, rank, d)[:2]
    dist.barrier()
    out["listing_after_not_shared"] = ckpt_listing(d) if rank == 0 else None

    # A failure just before the commit point: the new shards are all written, the index is not.
    ext.set_save_hook("before-index", "throw" if rank == 0 else "")
    out["before_index"] = ckpt_save(ext, group, rank, d, 4)
    ext.set_save_hook("", "")
    out["load_after_before_index"] = ckpt_load(ext, group, rank, d)[:2]
    dist.barrier()
    out["listing_after_before_index"] = ckpt_listing(d) if rank == 0 else None
    # The next save commits and removes every other generation's files.
    out["save_5"] = ckpt_save(ext, group, rank, d, 5)
    out["load_5"] = ckpt_load(ext, group, rank, d)
    dist.barrier()
    out["listing_5"] = ckpt_listing(d) if rank == 0 else None
    return out


def scenario_ckpt_crash(ext, group, rank, world, tmp):
    """Rank 0 dies after every shard of save 2 is written and checked, before the index."""
    d = os.path.join(tmp, "crash")
    first = ckpt_save(ext, group, rank, d, 1)
    if first is not None:
        return {"first": first}
    ext.set_save_hook("before-index", "exit" if rank == 0 else "")
    return {"first": None, "second": ckpt_save(ext, group, rank, d, 2)}


def scenario_ckpt_resume(ext, group, rank, world, tmp):
    """A new job after the crash: save 1 loads; the next save commits and cleans up."""
    d = os.path.join(tmp, "crash")
    out = {"load": ckpt_load(ext, group, rank, d)}
    out["save"] = ckpt_save(ext, group, rank, d, 3)
    out["load_3"] = ckpt_load(ext, group, rank, d)
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


SCENARIOS = {"main": scenario_main, "straggler": scenario_straggler, "death": scenario_death,
             "ckpt_crash": scenario_ckpt_crash, "ckpt_resume": scenario_ckpt_resume}


def launch(scenario, world, ext_dir, expect_ranks=None, tmp=None):
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    tmp = tmp or tempfile.mkdtemp(prefix=f"ts-dist-{scenario}-")
    store = os.path.join(tmp, f"store-{scenario}")  # a fresh rendezvous when a later scenario reuses tmp
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
    # The epoch row merges into the batch row of its step: step 0, then the resumed run's step 1.
    check(len(rows) == 2 and [row["_step"] for row in rows] == [0, 1], f"history rows {rows}")
    check(close(rows[1]["val_acc"], sum(0.1 * r for r in range(world)) / world, 1e-12), f"resumed row {rows[1]}")
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
        check(got[r]["resumed_best"] == got[0]["callback_best"],
              f"rank {r}: resumed callback best {got[r]['resumed_best']}, rank 0 restored {got[0]['callback_best']}")


def shard_names(world, generation, name="model"):
    return [f"{name}.shard-{r + 1:05d}-of-{world:05d}.g{generation}.pt" for r in range(world)]


def check_index(directory, world, generation, state, name="model"):
    """The index against the files themselves (sizes, hashlib's SHA-256) and what was saved."""
    with open(os.path.join(directory, f"{name}.index.json")) as f:
        index = json.load(f)
    check(index["format"] == "trainscope.sharded-checkpoint" and index["version"] == 1, f"index header {index}")
    check(index["world_size"] == world and index["generation"] == generation, f"index world/generation {index}")
    if state is None:
        check(index["state"] is None, f"index state {index['state']}")
    else:
        got = [index["state"][k] for k in ("epoch", "step", "best")]
        check(got[:2] == list(state[:2]) and close(got[2], state[2], 1e-12), f"index state {index['state']} vs {state}")
    files = shard_names(world, generation, name)
    check([s["rank"] for s in index["shards"]] == list(range(world)), f"index ranks {index['shards']}")
    for s, file in zip(index["shards"], files):
        check(s["file"] == file, f"index file {s['file']} != {file}")
        with open(os.path.join(directory, file), "rb") as f:
            data = f.read()
        check(s["size"] == len(data) and s["sha256"] == hashlib.sha256(data).hexdigest(), f"index entry {s} vs the file")
    return index


def agreed(got, world, key, rank_named, *needles):
    """Every rank has the same error text, naming `rank_named` and containing `needles`."""
    msgs = [got[r]["ckpt"][key] for r in range(world)]
    msgs = [m[0] if isinstance(m, (list, tuple)) else m for m in msgs]
    check(msgs[0] is not None, f"{key}: no error")
    check(all(m == msgs[0] for m in msgs), f"{key}: ranks' errors differ: {msgs}")
    check(f"failed on rank {rank_named}" in msgs[0], f"{key}: {msgs[0]!r} does not name rank {rank_named}")
    for needle in needles:
        check(needle in msgs[0], f"{key}: {msgs[0]!r} lacks {needle!r}")
    return msgs[0]


def check_checkpoints(world, got, tmp):
    d = os.path.join(tmp, "ckpt")
    index_file = "model.index.json"
    c0 = got[0]["ckpt"]
    for r in range(world):
        c = got[r]["ckpt"]
        check(c["saves"] == [None, None], f"rank {r}: saves {c['saves']}")
        # Each rank loads its own shard of the last save, its state and the child's buffer.
        check(c["load"][0] is None and c["load"][1] == 2 and list(c["load"][2]) == [2, 20, 0.5] and c["load"][3],
              f"rank {r}: load {c['load']}")
    gen2 = sorted([index_file] + shard_names(world, 2))
    check(c0["listing_after_2"] == gen2, f"after two saves: {c0['listing_after_2']} (generation 1 not removed?)")

    check(f"saved by {world} ranks, this group has 1" in c0["load_into_one"], c0["load_into_one"])
    msgs = {"world_size": agreed(got, world, "load_solo", 0, "saved by 1 rank, this group has " + str(world))}
    msgs["corrupt"] = agreed(got, world, "load_corrupt", world - 1, "SHA-256", shard_names(world, 2)[world - 1])
    msgs["missing"] = agreed(got, world, "load_missing", 0, "is missing", shard_names(world, 2)[0])
    msgs["shape"] = agreed(got, world, "load_shape", 1, "has shape", shard_names(world, 2)[1])
    for key in ("load_solo", "load_corrupt", "load_missing", "load_shape"):
        for r in range(world):
            check(got[r]["ckpt"][key][1] == 0, f"rank {r}: {key} changed the module ({got[r]['ckpt'][key]})")

    for action, needle in (("unlink", "is not there on rank 0"), ("append", "bytes on rank 0")):
        texts = [got[r]["ckpt"]["not_shared"][action] for r in range(world)]
        check(texts[0] is not None and all(t == texts[0] for t in texts), f"not shared ({action}): {texts}")
        check("failed on rank 0" in texts[0] and needle in texts[0] and "filesystem" in texts[0]
              and f"rank {world - 1}" in texts[0], f"not shared ({action}): {texts[0]!r}")
        msgs["not_shared_" + action] = texts[0]
    for r in range(world):
        check(got[r]["ckpt"]["load_after_not_shared"] == (None, 2), f"rank {r}: after a refused save: {got[r]['ckpt']['load_after_not_shared']}")
    check(c0["listing_after_not_shared"] == gen2, f"a refused save left files: {c0['listing_after_not_shared']}")

    texts = [got[r]["ckpt"]["before_index"] for r in range(world)]
    check(texts[0] is not None and all(t == texts[0] for t in texts) and "failed on rank 0" in texts[0], f"before index: {texts}")
    for r in range(world):
        check(got[r]["ckpt"]["load_after_before_index"] == (None, 2), f"rank {r}: after a failure before the index")
    # Generation 3 is written in full but not committed (generation 3 was reused: the refused
    # saves removed theirs).
    check(c0["listing_after_before_index"] == sorted(gen2 + shard_names(world, 3)), f"{c0['listing_after_before_index']}")
    for r in range(world):
        c = got[r]["ckpt"]
        check(c["save_5"] is None and c["load_5"][:2] == (None, 5) and list(c["load_5"][2]) == [5, 50, 0.2],
              f"rank {r}: save after the failure: {c['save_5']} {c['load_5']}")
    check(c0["listing_5"] == sorted([index_file] + shard_names(world, 4)), f"after the next commit: {c0['listing_5']}")
    index = check_index(d, world, 4, (5, 50, 0.2))
    check(index["optimizer"] is True, "index: optimizer")
    check_index(os.path.join(tmp, "solo"), 1, 1, None)
    if world == 2:
        for key, msg in msgs.items():
            print(f"[distributed] sharded checkpoint error '{key}': {msg}", flush=True)


def check_callback_checkpoint(world, got, tmp):
    path = got[0]["callback_checkpoint"]
    check(path.endswith("/checkpoints/model-best.index.json") and os.path.isfile(path), f"callback checkpoint {path}")
    directory = os.path.dirname(path)
    check(ckpt_listing(directory) == sorted(["model-best.index.json"] + shard_names(world, 1, "model-best")),
          f"callback checkpoints/: {ckpt_listing(directory)}")
    mean_acc = sum(0.5 + 0.1 * r for r in range(world)) / world
    index = check_index(directory, world, 1, (0, 0, mean_acc), "model-best")
    check(index["optimizer"] is False, "callback index: no optimizer was set")
    for r in range(world):
        err, equal, state = got[r]["callback_loaded"]
        check(err is None and equal and state[:2] == (0, 0) and close(state[2], mean_acc, 1e-12),
              f"rank {r}: callback checkpoint loaded: {got[r]['callback_loaded']}")
        if r:
            check(got[r]["callback_checkpoint"] == "", f"rank {r}: best_checkpoint_path {got[r]['callback_checkpoint']}")


def check_crash(ext_dir):
    """A real crash between the shard writes and the index: the previous save stays loadable."""
    got, tmp = launch("ckpt_crash", 2, ext_dir, expect_ranks=1)
    check(set(got) == {1}, f"crash: results from ranks {sorted(got)}")
    check(got[1]["first"] is None, f"crash: the first save failed: {got[1]['first']}")
    check(got[1]["second"] is not None and "collective failed" in got[1]["second"], f"crash: rank 1: {got[1]['second']}")
    d = os.path.join(tmp, "crash")
    check(ckpt_listing(d) == sorted(["model.index.json"] + shard_names(2, 1) + shard_names(2, 2)),
          f"crash: files {ckpt_listing(d)} (the second save's shards should be written)")
    check_index(d, 2, 1, (1, 10, 1.0))
    got, _ = launch("ckpt_resume", 2, ext_dir, tmp=tmp)
    for r in range(2):
        check(got[r]["load"][:2] == (None, 1) and list(got[r]["load"][2]) == [1, 10, 1.0], f"resume rank {r}: {got[r]['load']}")
        check(got[r]["save"] is None and got[r]["load_3"][:2] == (None, 3), f"resume rank {r}: {got[r]}")
    check(ckpt_listing(d) == sorted(["model.index.json"] + shard_names(2, 3)), f"resume: files {ckpt_listing(d)}")
    check_index(d, 2, 3, (3, 30, 1.0 / 3))


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
        check_callback_checkpoint(world, got, tmp)
        check_checkpoints(world, got, tmp)
    check_crash(ext_dir)
    got, _ = launch("straggler", 2, ext_dir)
    check_failure(2, got, "straggler", 10)
    check("timed out" in got[0]["error"], "straggler: the 2 s timeout should have ended the wait")
    got, _ = launch("death", 2, ext_dir, expect_ranks=1)
    check_failure(2, got, "death", 15)
    print(f"[distributed] all passed in {time.monotonic() - t0:.1f} s", flush=True)


if __name__ == "__main__":
    main()
