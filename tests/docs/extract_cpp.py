#!/usr/bin/env python3
"""Concatenates every ```cpp block of a Markdown file into one C++ source file."""
import re
import sys

source, output = sys.argv[1], sys.argv[2]
blocks = re.findall(r"^```cpp\n(.*?)^```", open(source, encoding="utf-8").read(), re.S | re.M)
if not blocks:
    sys.exit(f"{source}: no ```cpp blocks")
with open(output, "w", encoding="utf-8") as out:
    out.write(f"// Generated from {source}; edit the Markdown, not this file.\n")
    out.write("#undef NDEBUG  // the example checks itself with assert\n")
    out.write("\n".join(blocks))
