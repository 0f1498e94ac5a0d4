"""Reads a TensorBoard log directory with TensorBoard's own EventAccumulator and prints what it
holds as JSON: {"scalars": {tag: [[step, value], ...]}, "tags": {kind: [tags]}}.
Exits non-zero (with TensorBoard's error) when a file cannot be read, e.g. a string field with
invalid UTF-8.

With --full it also prints, per tag, every histogram event's fields (step, min, max, num, sum,
sum_squares, bucket_limit, bucket), every image event (step, width, height, and the decoded pixels
as a flat list of bytes, rows top to bottom, channels interleaved, through PIL) and every text
event (step, text).

usage: read_tensorboard.py [--full] <log_dir>
"""
import json
import math
import sys

from tensorboard.backend.event_processing import event_accumulator as ea


def full_contents(acc, tags):
    import io

    from PIL import Image

    histograms, images, texts = {}, {}, {}
    for tag in tags.get("histograms", []):
        histograms[tag] = [{"step": e.step, "min": e.histogram_value.min, "max": e.histogram_value.max,
                            "num": e.histogram_value.num, "sum": e.histogram_value.sum,
                            "sum_squares": e.histogram_value.sum_squares,
                            "bucket_limit": list(e.histogram_value.bucket_limit),
                            "bucket": list(e.histogram_value.bucket)} for e in acc.Histograms(tag)]
    for tag in tags.get("images", []):
        images[tag] = []
        for e in acc.Images(tag):
            decoded = Image.open(io.BytesIO(e.encoded_image_string))
            images[tag].append({"step": e.step, "width": e.width, "height": e.height, "mode": decoded.mode,
                                "pixels": list(decoded.tobytes())})
    for tag in tags.get("tensors", []):
        texts[tag] = [{"step": e.step, "text": b"".join(e.tensor_proto.string_val).decode("utf-8")}
                      for e in acc.Tensors(tag)]
    return {"histograms": histograms, "images": images, "texts": texts}


def main():
    args = sys.argv[1:]
    full = "--full" in args
    args = [a for a in args if a != "--full"]
    acc = ea.EventAccumulator(args[0], size_guidance={k: 0 for k in ea.DEFAULT_SIZE_GUIDANCE})
    acc.Reload()
    tags = acc.Tags()
    scalars = {}
    for tag in tags["scalars"]:
        scalars[tag] = [[e.step, e.value if math.isfinite(e.value) else None] for e in acc.Scalars(tag)]
    out = {"scalars": scalars, "tags": {k: sorted(v) for k, v in tags.items() if isinstance(v, list)}}
    if full:
        out.update(full_contents(acc, tags))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
