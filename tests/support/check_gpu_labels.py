#!/usr/bin/env python3
"""Fails unless `ctest -N -L gpu` selects every test the GPU test sources define.

The GPU tests run only where a GPU is lent, rarely and briefly; if the label wiring breaks (a
label list flattened by test discovery, a source added without the GPU flag), the GPU call would
run nothing and report success. This check runs in CI on a machine without a GPU.

usage: check_gpu_labels.py --ctest CTEST --build-dir DIR [--list-only] SOURCE...
  --list-only  print the test names the sources define (used by the GPU check's dry run)
Exit 77 (ctest's skip code) when trainscope was built without CUDA: the sources then define no
GPU test at all.
"""
import argparse
import re
import subprocess
import sys

TEST_RE = re.compile(r"^\s*(TEST|TEST_F|TEST_P)\(\s*(\w+)\s*,\s*(\w+)\s*\)", re.M)


def cuda_part(text):
    """The text of a GPU test source without its `#else` branch (the stub a CPU build compiles)."""
    out, skipping, depth = [], False, 0
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#if"):
            depth += 1
        elif stripped.startswith("#else") and depth == 1:
            skipping = True
            continue
        elif stripped.startswith("#endif"):
            depth -= 1
            if depth == 0:
                skipping = False
        if not skipping:
            out.append(line)
    return "\n".join(out)


def defined_tests(sources):
    tests = []
    for path in sources:
        with open(path, encoding="utf-8") as f:
            for kind, suite, name in TEST_RE.findall(cuda_part(f.read())):
                tests.append((kind, suite, name, path))
    return tests


def selected_tests(ctest, build_dir):
    done = subprocess.run([ctest, "--test-dir", build_dir, "-N", "-L", "gpu"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"ctest -N -L gpu failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return re.findall(r"Test\s+#\d+:\s+(\S+)", done.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ctest")
    parser.add_argument("--build-dir")
    parser.add_argument("--with-cuda", default="ON")
    parser.add_argument("--list-only", action="store_true")
    parser.add_argument("sources", nargs="+")
    args = parser.parse_args()
    tests = defined_tests(args.sources)
    if args.list_only:
        for kind, suite, name, _ in tests:
            print(f"{suite}.{name}" if kind != "TEST_P" else f"*/{suite}.{name}/*")
        return 0
    if not tests:
        sys.exit("the GPU test sources define no test: " + " ".join(args.sources))
    if args.with_cuda.upper() in ("OFF", "FALSE", "0", ""):
        print("trainscope was built without CUDA: the GPU sources compile to no test; nothing to check")
        return 77
    selected = selected_tests(args.ctest, args.build_dir)
    missing = []
    for kind, suite, name, path in tests:
        if kind == "TEST_P":  # parametrised: Prefix/Suite.Name/Param
            pattern = re.compile(rf"^(\w+/)?{suite}\.{name}/")
            found = any(pattern.match(s) for s in selected)
        else:
            found = f"{suite}.{name}" in selected
        if not found:
            missing.append(f"{suite}.{name} ({path})")
    print(f"{len(tests)} GPU tests defined, {len(selected)} selected by `ctest -L gpu`")
    if missing:
        print("not selected by `ctest -L gpu`:\n  " + "\n  ".join(missing))
        return 1
    if len(selected) < len(tests):
        print("ctest -L gpu selects fewer tests than the sources define")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
