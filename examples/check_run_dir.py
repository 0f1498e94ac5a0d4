"""Runs an example and checks the run directory it writes against docs/run-directory.md.

usage: check_run_dir.py --kind classifier|segmentation --root DIR --run-id ID -- <example command...>
Exit status 0 when every check passes; each failure is printed.
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys

failures = []


def expect(condition, message):
    if not condition:
        failures.append(message)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    expect(head[:8] == b"\x89PNG\r\n\x1a\n", f"{path}: not a PNG")
    return struct.unpack(">II", head[16:24])  # IHDR width, height


def check_file_ref(run_dir, value, key):
    path = os.path.join(run_dir, value["path"])
    real = os.path.realpath(path)
    expect(real.startswith(os.path.realpath(run_dir) + os.sep), f"{key}: {path} escapes the run directory")
    expect(os.path.exists(path), f"{key}: {path} missing")
    if not os.path.exists(path):
        return None
    data = open(path, "rb").read()
    expect(hashlib.sha256(data).hexdigest() == value["sha256"], f"{key}: sha256 mismatch for {path}")
    expect(len(data) == value["size"], f"{key}: size mismatch for {path}")
    return path


def check_value(run_dir, key, value):
    if not isinstance(value, dict):
        expect(value is None or isinstance(value, (int, float, str)), f"{key}: unexpected value {value!r}")
        return
    kind = value.get("_type")
    if kind == "histogram":
        expect(1 <= len(value["values"]) <= 512, f"{key}: {len(value['values'])} bins")
        expect(len(value["bins"]) == len(value["values"]) + 1, f"{key}: bins/values length mismatch")
        expect(value["bins"] == sorted(value["bins"]), f"{key}: bins not ascending")
    elif kind == "image-file":
        path = check_file_ref(run_dir, value, key)
        expect(value["path"].startswith("media/images/") and value["format"] == "png", f"{key}: bad image path/format")
        if path:
            expect(png_size(path) == (value["width"], value["height"]), f"{key}: PNG size differs from the row")
    elif kind == "images/separated":
        expect(value["count"] == len(value["filenames"]), f"{key}: count != filenames")
        for name in value["filenames"]:
            path = os.path.join(run_dir, name)
            expect(os.path.exists(path), f"{key}: {name} missing")
            if os.path.exists(path):
                expect(png_size(path) == (value["width"], value["height"]), f"{key}: {name} size differs")
        if "captions" in value:
            expect(len(value["captions"]) == value["count"], f"{key}: captions count")
    elif kind == "table-file":
        path = check_file_ref(run_dir, value, key)
        expect(value["path"].startswith("media/table/") and value["path"].endswith(".table.json"), f"{key}: bad table path")
        if path:
            table = json.load(open(path))
            expect(len(table["columns"]) == value["ncols"], f"{key}: ncols")
            expect(len(table["data"]) == value["nrows"], f"{key}: nrows")
            expect(all(len(r) == value["ncols"] for r in table["data"]), f"{key}: ragged rows")
    else:
        failures.append(f"{key}: unknown _type {kind!r}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", required=True, choices=["classifier", "segmentation"])
    parser.add_argument("--root", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    run_dir = os.path.join(args.root, args.run_id)
    shutil.rmtree(run_dir, ignore_errors=True)

    result = subprocess.run(command, capture_output=True, text=True)
    print(result.stdout)
    print(result.stderr, file=sys.stderr)
    expect(result.returncode == 0, f"example exited with {result.returncode}")
    for line in ("run directory:", "best checkpoint:", "images:"):
        expect(line in result.stdout, f"output lacks '{line}'")

    for name in ("run.json", "config.json", "history.jsonl", "summary.json", "graph.json", "checkpoints/model-best.pt"):
        expect(os.path.exists(os.path.join(run_dir, name)), f"{name} missing")
    if failures:
        return report()
    record = json.load(open(os.path.join(run_dir, "run.json")))
    expect(record.get("id") == os.path.basename(os.path.normpath(run_dir)), "run.json: id is not the directory's")
    expect({"name": "epoch", "hidden": True} in record.get("metrics", []),
           "run.json: the epoch counter is not defined hidden")

    rows = [json.loads(line) for line in open(os.path.join(run_dir, "history.jsonl"))]
    expect(len(rows) > 2, "too few history rows")
    for i, row in enumerate(rows):
        # _step is the loop's global step (docs/run-directory.md#logging-and-steps): strictly increasing
        expect(i == 0 or row["_step"] > rows[i - 1]["_step"], f"row {i}: _step {row['_step']} does not increase")
        expect(isinstance(row["_runtime"], (int, float)) and isinstance(row["_timestamp"], (int, float)), f"row {i}: times")
        for key, value in row.items():
            if not key.startswith("_"):
                check_value(run_dir, key, value)
    keys = set().union(*rows)
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    expect(summary["_step"] == rows[-1]["_step"], "summary _step is not the last step")
    expect("best_epoch" in summary and "GFLOPs" in summary, "summary lacks best_epoch / GFLOPs")
    expect(summary.get("graph", {}).get("path") == "graph.json", "summary lacks the graph reference")
    expect(any(k.startswith("gradients/") for k in keys), "no gradient histograms")
    examples = [r["examples"] for r in rows if "examples" in r]
    expect(len(examples) == 2, f"expected examples in each of 2 epochs, got {len(examples)}")

    check_tensorboard(run_dir, rows)

    if args.kind == "classifier":
        expect("best_val_acc" in summary, "summary lacks best_val_acc")
        expect(any(k.startswith("parameters/") for k in keys), "no weight histograms")
        expect(any("evaluation" in r for r in rows), "no evaluation table")
        labels = {"horizontal", "vertical", "blob"}
        expect(examples and set(examples[-1]["captions"]) <= labels, "captions are not label names")
        # The example's identity and its define_metric("val_loss", min + last).
        expect(record.get("name") == "classifier" and record.get("job_type") == "train"
               and record.get("tags") == ["example", "cpu-or-cuda"], f"run.json identity: {record}")
        val_losses = [r["val_loss"] for r in rows if isinstance(r.get("val_loss"), (int, float))]
        expect(val_losses and summary.get("val_loss") == {"min": min(val_losses), "last": val_losses[-1]},
               f"summary val_loss {summary.get('val_loss')}, history {val_losses}")
    else:
        expect("best_val_loss" in summary, "summary lacks best_val_loss")
        expect(examples and examples[-1]["width"] == 3 * 32 and examples[-1]["height"] == 32,
               "segmentation examples are not (input, output, target) triplets")
    return report()


def check_tensorboard(run_dir, rows):
    """The run's tb/ opens in TensorBoard's reader with the same scalars, histograms and images."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    tb = os.path.join(run_dir, "tb")
    expect(os.path.isdir(tb) and any(f.startswith("events.out.tfevents.") for f in os.listdir(tb)),
           "tb/ holds no event file")
    if failures:
        return
    acc = EventAccumulator(tb, size_guidance={"scalars": 0, "histograms": 0, "images": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    # The callback's epoch counter is history bookkeeping, left out of TensorBoard (docs/callback.md).
    expect("epoch" not in tags["scalars"], "tb: the epoch counter has a scalar card")
    for row in rows:
        for key, value in row.items():
            if key.startswith("_") or key == "epoch":
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                events = [e for e in acc.Scalars(key) if e.step == row["_step"]] if key in tags["scalars"] else []
                expect(len(events) == 1 and abs(events[0].value - value) <= 1e-6 * max(1.0, abs(value)),
                       f"tb: scalar {key} at step {row['_step']}")
            elif isinstance(value, dict) and value.get("_type") == "histogram":
                events = [e for e in acc.Histograms(key) if e.step == row["_step"]] if key in tags["histograms"] else []
                expect(len(events) == 1 and list(events[0].histogram_value.bucket) == value["values"],
                       f"tb: histogram {key} at step {row['_step']}")
    expect(len(tags["images"]) > 0, "tb: no images")


def report():
    for failure in failures:
        print("FAIL:", failure)
    print("OK" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
