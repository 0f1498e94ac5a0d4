"""Reads a TensorBoard log directory with TensorBoard's own EventAccumulator and prints what it
holds as JSON: {"scalars": {tag: [[step, value], ...]}, "tags": {kind: [tags]}}.
Exits non-zero (with TensorBoard's error) when a file cannot be read, e.g. a string field with
invalid UTF-8.

usage: read_tensorboard.py <log_dir>
"""
import json
import math
import sys

from tensorboard.backend.event_processing import event_accumulator as ea


def main():
    acc = ea.EventAccumulator(sys.argv[1], size_guidance={k: 0 for k in ea.DEFAULT_SIZE_GUIDANCE})
    acc.Reload()
    tags = acc.Tags()
    scalars = {}
    for tag in tags["scalars"]:
        scalars[tag] = [[e.step, e.value if math.isfinite(e.value) else None] for e in acc.Scalars(tag)]
    print(json.dumps({"scalars": scalars,
                      "tags": {k: sorted(v) for k, v in tags.items() if isinstance(v, list)}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
