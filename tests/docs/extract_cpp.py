#!/usr/bin/env python3
"""The C++ of the documentation, compiled by the test suite.

  extract_cpp.py PAGE.md OUTPUT.cpp   every ```cpp block of PAGE, concatenated, as one source file
  extract_cpp.py --list DOCS_DIR      one line per page with ```cpp blocks: "NAME program" when
                                      its blocks define main(), else "NAME unit"
"""
import os
import re
import sys

BLOCK = re.compile(r"^```cpp\n(.*?)^```", re.S | re.M)
MAIN = re.compile(r"^int main\(", re.M)


def blocks(page):
    with open(page, encoding="utf-8") as f:
        return BLOCK.findall(f.read())


def main():
    if sys.argv[1] == "--list":
        docs = sys.argv[2]
        for name in sorted(os.listdir(docs)):
            if name.endswith(".md") and (found := blocks(os.path.join(docs, name))):
                kind = "program" if any(MAIN.search(b) for b in found) else "unit"
                print(name[:-3], kind)
        return
    source, output = sys.argv[1], sys.argv[2]
    found = blocks(source)
    if not found:
        sys.exit(f"{source}: no ```cpp blocks")
    with open(output, "w", encoding="utf-8") as out:
        out.write(f"// Generated from {source}; edit the Markdown, not this file.\n")
        out.write("#undef NDEBUG  // the examples check themselves with assert\n")
        out.write("\n".join(found))


if __name__ == "__main__":
    main()
