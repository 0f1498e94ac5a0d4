"""Launches examples/ddp_classifier.cpp on N CPU processes with Gloo (docs/distributed.md).

  python examples/ddp_classifier.py --build-dir build [--world 2] [--epochs 3] [--root runs]

Builds the example as a torch extension (cached in <build-dir>/examples/ddp_classifier), spawns the
ranks, creates the process group with torch.distributed and calls the C++ train() on each. Prints
the one run directory that rank 0 wrote.
"""
import argparse
import importlib
import os
import sys
import tempfile
from datetime import timedelta

NAME = "trainscope_ddp_classifier"


def build(source_dir, build_dir):
    from torch.utils import cpp_extension
    out = os.path.join(build_dir, "examples", "ddp_classifier")
    os.makedirs(out, exist_ok=True)
    libs = [os.path.join(build_dir, "src"), os.path.join(build_dir, "src", "torch")]
    cpp_extension.load(
        name=NAME,
        sources=[os.path.join(source_dir, "examples", "ddp_classifier.cpp")],
        extra_include_paths=[os.path.join(source_dir, "include")],
        extra_cflags=["-O1", "-std=c++17"],
        extra_ldflags=[f"-L{d}" for d in libs] + ["-ltrainscope_torch", "-ltrainscope"] + [f"-Wl,-rpath,{d}" for d in libs],
        build_directory=out,
    )
    return out


def rank_main(rank, world, store, ext_dir, root, run_id, epochs, results):
    import torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    sys.path.insert(0, ext_dir)
    ext = importlib.import_module(NAME)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=60))
    results.put(ext.train(dist.group.WORLD, root, run_id, epochs))
    dist.destroy_process_group()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(here, "..", "build"))
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--root", default="runs")
    ap.add_argument("--run-id", default="")
    ap.add_argument("--check", action="store_true", help="start from an empty --root; fail unless it then holds exactly this one run")
    args = ap.parse_args()
    import multiprocessing as mp
    import shutil
    if args.check:
        shutil.rmtree(args.root, ignore_errors=True)
    ext_dir = build(os.path.dirname(here), os.path.abspath(args.build_dir))
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    store = os.path.join(tempfile.mkdtemp(prefix="ts-ddp-"), "store")
    procs = [ctx.Process(target=rank_main, args=(r, args.world, store, ext_dir, os.path.abspath(args.root),
                                                  args.run_id, args.epochs, results)) for r in range(args.world)]
    for p in procs:
        p.start()
    out = sorted((results.get(timeout=600) for _ in procs), key=lambda o: o["rank"])
    for p in procs:
        p.join()
        if p.exitcode != 0:
            sys.exit(f"a rank failed (exit code {p.exitcode})")
    decisions = {tuple(o["improved"]) for o in out}
    print(f"run directory (rank 0): {out[0]['run_dir']}")
    if args.check:
        runs = os.listdir(args.root)
        run_dir = out[0]["run_dir"]
        ok = (len(runs) == 1 and os.path.basename(run_dir) == runs[0] and all(o["run_dir"] == "" for o in out[1:])
              and os.path.isfile(os.path.join(run_dir, "checkpoints", "model-best.pt")) and len(decisions) == 1)
        with open(os.path.join(run_dir, "history.jsonl")) as f:
            rows = [line for line in f if line.strip()]
        if not ok or len(rows) < args.epochs:
            sys.exit(f"check failed: runs {runs}, rank results {out}, {len(rows)} history rows")
    print(f"best val_acc {out[0]['best']:.4f}; improved per epoch {out[0]['improved']} "
          f"({'the same' if len(decisions) == 1 else 'DIFFERENT'} on every rank)")


if __name__ == "__main__":
    main()
