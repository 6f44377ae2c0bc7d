#!/usr/bin/env python3
"""Compile-fail check for one source file.

The file is compiled twice with -fsyntax-only:
  * as is, which must succeed: the case is valid C++ but for the one break, so the
    failure below is caused by that break and nothing else;
  * with -DEDGEPIPE_BREAK, which must fail with diagnostics containing every
    `// expect-error: TEXT` line of the file (`// expect-error-regex: RE` for a regex).

usage: check.py SOURCE [--expect TEXT] [-I DIR ...] -- COMPILER [ARGS...]
--expect replaces the file's expectations (the harness self-check uses it).
"""
import re
import subprocess
import sys


def main(argv):
    split = argv.index("--")
    ours, compiler = argv[:split], argv[split + 1:]
    source, includes, override = ours[0], [], None
    i = 1
    while i < len(ours):
        if ours[i] == "-I":
            includes += ["-I", ours[i + 1]]
            i += 2
        elif ours[i] == "--expect":
            override = ours[i + 1]
            i += 2
        else:
            sys.exit(f"check.py: unknown argument {ours[i]}")

    text = open(source, encoding="utf-8").read()
    expectations = [(False, m) for m in re.findall(r"//\s*expect-error:\s*(.+)", text)]
    expectations += [(True, m) for m in re.findall(r"//\s*expect-error-regex:\s*(.+)", text)]
    first = [m.strip() for m in re.findall(r"//\s*expect-first-error:\s*(.+)", text)]
    expectations += [(False, m) for m in first]
    if override is not None:
        expectations = [(False, override)]
    if not expectations:
        sys.exit(f"{source}: no `// expect-error:` line")

    base = compiler + ["-std=c++20", "-fsyntax-only", *includes, source]
    good = subprocess.run(base, capture_output=True, text=True)
    if good.returncode != 0:
        print(good.stderr)
        sys.exit(f"{source}: the unbroken variant must compile, and it does not")

    bad = subprocess.run(base + ["-DEDGEPIPE_BREAK"], capture_output=True, text=True)
    if bad.returncode == 0:
        sys.exit(f"{source}: compiled with EDGEPIPE_BREAK; the compiler should reject it")
    missing = [e for is_re, e in expectations
               if not (re.search(e.strip(), bad.stderr) if is_re else e.strip() in bad.stderr)]
    if missing:
        print(bad.stderr[:6000])
        sys.exit(f"{source}: rejected, but the diagnostics lack: {missing}")
    errors = [line for line in bad.stderr.splitlines() if re.search(r"\berror\b", line)]
    for e in first:
        if not errors or e not in errors[0]:
            print(bad.stderr[:6000])
            sys.exit(f"{source}: the first error is not the readable one ({e!r}): {errors[:1]}")
    print(f"{source}: rejected as expected: {[e.strip() for _, e in expectations]}")


if __name__ == "__main__":
    main(sys.argv[1:])
