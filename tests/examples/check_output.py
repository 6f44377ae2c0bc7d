#!/usr/bin/env python3
"""Runs an example and compares what it prints with what its reader is told to expect.

  check_output.py PROGRAM EXPECTED

Fails, showing the difference, when the output differs or the program exits non-zero.
"""
import difflib
import subprocess
import sys


def main():
    program, expected_path = sys.argv[1], sys.argv[2]
    run = subprocess.run([program], capture_output=True, text=True, timeout=60)
    with open(expected_path, encoding="utf-8") as f:
        expected = f.read()
    problems = []
    if run.returncode != 0:
        problems.append(f"{program} exited with {run.returncode}; stderr:\n{run.stderr}")
    if run.stdout != expected:
        diff = difflib.unified_diff(expected.splitlines(True), run.stdout.splitlines(True), expected_path, "output")
        problems.append("the output differs from the expected one:\n" + "".join(diff))
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
