"""Starts the real TensorBoard server (`tensorboard --logdir <log_dir>`) and checks over HTTP that
every dashboard shows what the C++ test logged: scalars with their values, histograms, images
(fetched and decoded to the logged pixels) and texts (rendered).

usage: serve_check.py <log_dir> <expected.json>   (the format of check_events.py)
"""
import io
import json
import struct
import sys
import urllib.parse
import urllib.request

from PIL import Image
from tensorboard import program

problems = []


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def main():
    log_dir, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path) as f:
        expected = json.load(f)
    for kind in ("scalars", "histograms", "images", "texts"):
        expected.setdefault(kind, {})

    server = program.TensorBoard()
    server.configure(argv=[None, "--logdir", log_dir, "--host", "127.0.0.1", "--port", "0",
                           "--load_fast", "false", "--reload_interval", "0"])
    base = server.launch().rstrip("/")

    def get(path, **query):
        url = base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read()

    def get_json(path, **query):
        return json.loads(get(path, **query))

    runs = get_json("/data/runs")
    if len(runs) != 1:
        print(f"expected one run, got {runs}")
        return 1
    run = runs[0]

    for kind, plugin in (("scalars", "scalars"), ("histograms", "histograms"),
                         ("images", "images"), ("texts", "text")):
        tags = get_json(f"/data/plugin/{plugin}/tags").get(run, {})
        if sorted(tags) != sorted(expected[kind]):
            problems.append(f"{plugin} dashboard: tags {sorted(tags)}, expected {sorted(expected[kind])}")

    for tag, want in expected["scalars"].items():
        got = [(step, value) for _, step, value in get_json("/data/plugin/scalars/scalars", run=run, tag=tag)]
        if got != [(step, f32(v)) for step, v in want]:
            problems.append(f"scalars dashboard {tag}: {got}, expected {want}")

    for tag, want in expected["histograms"].items():
        got = get_json("/data/plugin/histograms/histograms", run=run, tag=tag)
        if [step for _, step, _ in got] != [step for step, _ in want]:
            problems.append(f"histograms dashboard {tag}: steps {[s for _, s, _ in got]}")
        for (_, step, buckets), (_, w) in zip(got, want):
            if sum(count for _, _, count in buckets) != sum(w["bucket"]):
                problems.append(f"histograms dashboard {tag} step {step}: counts {buckets}")

    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    for tag, want in expected["images"].items():
        got = get_json("/data/plugin/images/images", run=run, tag=tag)
        if [g["step"] for g in got] != [step for step, _ in want]:
            problems.append(f"images dashboard {tag}: steps {[g['step'] for g in got]}")
        for g, (step, w) in zip(got, want):
            image = Image.open(io.BytesIO(get("/data/plugin/images/individualImage?" + g["query"])))
            if (image.mode, image.size, list(image.tobytes())) != (
                    modes[w["channels"]], (w["width"], w["height"]), w["pixels"]):
                problems.append(f"images dashboard {tag} step {step}: served image differs")

    for tag, want in expected["texts"].items():
        got = get_json("/data/plugin/text/text", run=run, tag=tag)
        if [g["step"] for g in got] != [step for step, _ in want]:
            problems.append(f"text dashboard {tag}: steps {[g['step'] for g in got]}")
        for g, (step, w) in zip(got, want):
            is_table = w.startswith("| ")
            if not g["text"] or (is_table and "<table>" not in g["text"]):
                problems.append(f"text dashboard {tag} step {step}: rendered {g['text']!r}")

    if problems:
        print(f"{len(problems)} mismatches:")
        for p in problems[:50]:
            print("  " + p)
        return 1
    print(f"ok: TensorBoard at {base} shows every logged tag and value")
    return 0


if __name__ == "__main__":
    sys.exit(main())
