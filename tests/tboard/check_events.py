"""Reads a TensorBoard log directory with TensorBoard's own readers and compares every value with
what the C++ test says it logged.

usage: check_events.py <log_dir> <expected.json>

expected.json: {"scalars":    {tag: [[step, value], ...]},
                "histograms": {tag: [[step, {min, max, num, sum, sum_squares, bucket_limit, bucket}], ...]},
                "images":     {tag: [[step, {width, height, channels, pixels: [bytes...]}], ...]},
                "texts":      {tag: [[step, text], ...]}}
Steps must come back exactly as listed (so a purge on resume is checked too). Exits 1 listing every
mismatch.
"""
import io
import json
import os
import struct
import sys

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.backend.event_processing import plugin_event_accumulator as pea
from tensorboard.compat.proto import event_pb2
from tensorboard.util import tensor_util

problems = []


def problem(message):
    problems.append(message)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def same_float(a, b):
    return (a != a and b != b) or a == b


def check_steps(kind, tag, got, want):
    got_steps = [s for s, _ in got]
    want_steps = [s for s, _ in want]
    if got_steps != want_steps:
        problem(f"{kind} {tag}: steps {got_steps}, expected {want_steps}")
        return False
    if any(b <= a for a, b in zip(got_steps, got_steps[1:])):
        problem(f"{kind} {tag}: steps not increasing: {got_steps}")
    return True


def check_event_accumulator(log_dir, expected):
    # Keep everything: size guidance 0 for every kind.
    acc = ea.EventAccumulator(log_dir, size_guidance={k: 0 for k in ea.DEFAULT_SIZE_GUIDANCE})
    acc.Reload()
    tags = acc.Tags()
    for kind, key in (("scalars", "scalars"), ("histograms", "histograms"),
                      ("images", "images"), ("texts", "tensors")):
        if sorted(tags[key]) != sorted(expected[kind]):
            problem(f"{kind}: tags {sorted(tags[key])}, expected {sorted(expected[kind])}")

    for tag, want in expected["scalars"].items():
        if tag not in tags["scalars"]:
            continue
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        if check_steps("scalar", tag, got, want):
            for (step, g), (_, w) in zip(got, want):
                if not same_float(g, f32(w)):
                    problem(f"scalar {tag} step {step}: {g!r}, expected {f32(w)!r}")

    for tag, want in expected["histograms"].items():
        if tag not in tags["histograms"]:
            continue
        got = [(e.step, e.histogram_value) for e in acc.Histograms(tag)]
        if check_steps("histogram", tag, got, want):
            for (step, g), (_, w) in zip(got, want):
                got_fields = {"min": g.min, "max": g.max, "num": g.num, "sum": g.sum,
                              "sum_squares": g.sum_squares, "bucket_limit": list(g.bucket_limit),
                              "bucket": list(g.bucket)}
                if got_fields != w:
                    problem(f"histogram {tag} step {step}: {got_fields}, expected {w}")

    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    for tag, want in expected["images"].items():
        if tag not in tags["images"]:
            continue
        got = [(e.step, e) for e in acc.Images(tag)]
        if check_steps("image", tag, got, want):
            for (step, g), (_, w) in zip(got, want):
                if (g.width, g.height) != (w["width"], w["height"]):
                    problem(f"image {tag} step {step}: {g.width}x{g.height}, expected "
                            f"{w['width']}x{w['height']}")
                decoded = Image.open(io.BytesIO(g.encoded_image_string))
                if decoded.format != "PNG" or decoded.mode != modes[w["channels"]]:
                    problem(f"image {tag} step {step}: {decoded.format} {decoded.mode}, expected "
                            f"PNG {modes[w['channels']]}")
                elif decoded.size != (w["width"], w["height"]) or list(decoded.tobytes()) != w["pixels"]:
                    problem(f"image {tag} step {step}: decoded pixels differ from the logged ones")

    for tag, want in expected["texts"].items():
        if tag not in tags["tensors"]:
            continue
        # This accumulator applies restart purges to every kind but tensors, so a resumed run's
        # texts show both sessions' points: compare the latest point of each step here (the
        # server view below checks the purged series itself).
        latest = {}
        for e in acc.Tensors(tag):
            latest[e.step] = e.tensor_proto
        got = sorted(latest.items())
        if check_steps("text", tag, got, want):
            for (step, g), (_, w) in zip(got, want):
                text = tensor_util.make_ndarray(g)
                if text.shape != () or text.item().decode("utf-8") != w:
                    problem(f"text {tag} step {step}: {text!r}, expected {w!r}")
        plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
        if plugin != "text":
            problem(f"text {tag}: plugin {plugin!r}, expected 'text'")
    return sum(len(v) for kind in expected.values() for v in kind.values())


def check_server_view(log_dir, expected):
    """The accumulator behind `tensorboard --logdir`: every tag reaches its dashboard's plugin."""
    acc = pea.EventAccumulator(log_dir, size_guidance={k: 0 for k in ea.DEFAULT_SIZE_GUIDANCE})
    acc.Reload()
    for kind, plugin in (("scalars", "scalars"), ("histograms", "histograms"),
                         ("images", "images"), ("texts", "text")):
        got = sorted(acc.PluginTagToContent(plugin)) if expected[kind] else []
        if got != sorted(expected[kind]):
            problem(f"server view, plugin {plugin}: tags {got}, expected {sorted(expected[kind])}")
    for tag, want in expected["scalars"].items():
        got = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
        if check_steps("server scalar", tag, got, want):
            for (step, g), (_, w) in zip(got, want):
                if not same_float(g, f32(w)):
                    problem(f"server scalar {tag} step {step}: {g!r}, expected {f32(w)!r}")
    for tag, want in expected["texts"].items():
        got = [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
        if check_steps("server text", tag, got, want):
            for (step, g), (_, w) in zip(got, want):
                if g.shape != () or g.item().decode("utf-8") != w:
                    problem(f"server text {tag} step {step}: {g!r}, expected {w!r}")
    for tag, want in expected["histograms"].items():
        got = [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
        if check_steps("server histogram", tag, got, want):
            for (step, g), (_, w) in zip(got, want):
                counts = w["bucket"]
                nonzero = [i for i, c in enumerate(counts) if c > 0]
                first, last = nonzero[0], nonzero[-1]
                inner = w["bucket_limit"][first:last]
                want_rows = np.array([[w["min"]] + inner, inner + [w["max"]], counts[first:last + 1]],
                                     dtype=np.float32).T
                if g.shape != want_rows.shape or not np.array_equal(g, want_rows):
                    problem(f"server histogram {tag} step {step}: {g.tolist()}, expected "
                            f"{want_rows.tolist()}")


def check_canonical_encoding(log_dir):
    """Every record parses as an Event that protobuf itself would serialise to the same bytes."""
    for name in sorted(os.listdir(log_dir)):
        raw = list(event_file_loader.RawEventFileLoader(os.path.join(log_dir, name)).Load())
        if not raw:
            problem(f"{name}: no events")
            continue
        for i, data in enumerate(raw):
            event = event_pb2.Event.FromString(data)
            if event.SerializeToString(deterministic=True) != data:
                problem(f"{name} record {i}: not the canonical protobuf encoding")
            if i == 0 and event.file_version != "brain.Event:2":
                problem(f"{name}: first event {event}, expected file_version brain.Event:2")


def main():
    log_dir, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path) as f:
        expected = json.load(f)
    for kind in ("scalars", "histograms", "images", "texts"):
        expected.setdefault(kind, {})
    checked = check_event_accumulator(log_dir, expected)
    check_server_view(log_dir, expected)
    check_canonical_encoding(log_dir)
    if problems:
        print(f"{len(problems)} mismatches:")
        for p in problems[:50]:
            print("  " + p)
        return 1
    print(f"ok: {checked} logged values equal what TensorBoard reads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
