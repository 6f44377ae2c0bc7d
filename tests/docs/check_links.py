#!/usr/bin/env python3
"""Checks that the documentation stands alone.

  check_links.py SOURCE_ROOT

Every relative link (and its #anchor) in README.md and docs/*.md must name a file inside
the repository (and a heading or id of that file), and no tracked file may point at the
folder beside the repository. Prints each problem as file:line: what, and exits 1 if any.
"""
import os
import re
import subprocess
import sys

# Spelled in two halves, so that this file does not trip its own check.
OUTSIDE = ".." + "/shared"

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`+[^`]*`+")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")
HTML_ID = re.compile(r"""<a\s+(?:id|name)\s*=\s*["']([^"']+)["']""")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def github_slug(heading):
    """The anchor GitHub gives a heading: its text, lower case, without punctuation."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links: their text
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def prose_lines(path):
    """(line number, text) of each line outside fenced code."""
    in_fence = False
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if FENCE.match(line):
                in_fence = not in_fence
                continue
            if not in_fence:
                yield number, line.rstrip("\n")


def anchors(path, cache={}):
    if path not in cache:
        seen, found = {}, set()
        for _, line in prose_lines(path):
            found.update(HTML_ID.findall(INLINE_CODE.sub("", line)))
            m = HEADING.match(line)
            if m:
                slug = github_slug(m.group(2))
                n = seen.get(slug, 0)
                seen[slug] = n + 1
                found.add(slug if n == 0 else f"{slug}-{n}")
        cache[path] = found
    return cache[path]


def check_links(root, page, problems):
    for number, line in prose_lines(page):
        line = INLINE_CODE.sub("", line)
        targets = LINK.findall(line) + HTML_LINK.findall(line)
        m = REFERENCE.match(line)
        if m:
            targets.append(m.group(1))
        for target in targets:
            where = f"{os.path.relpath(page, root)}:{number}"
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
                continue  # http:, https:, mailto:: not ours to check offline
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            if os.path.commonpath([os.path.realpath(resolved), root]) != root:
                problems.append(f"{where}: {target} points outside the repository")
                continue
            if not os.path.exists(resolved):
                problems.append(f"{where}: {target}: no such file")
                continue
            if anchor and resolved.endswith(".md") and anchor not in anchors(resolved):
                problems.append(f"{where}: {target}: no heading or id '{anchor}' in {os.path.relpath(resolved, root)}")


def tracked_files(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True, capture_output=True).stdout
        return [os.path.join(root, f) for f in out.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):  # a release tarball: no git
        files = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d not in {".git", "node_modules", "subprojects"} and not d.startswith("build")]
            files += [os.path.join(folder, n) for n in names]
        return files


def check_outside_mentions(root, problems):
    for path in tracked_files(root):
        try:
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if OUTSIDE in line:
                        problems.append(f"{os.path.relpath(path, root)}:{number}: mentions {OUTSIDE}, outside the repository")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue  # binary files (images, corpora), or a deleted file still in the index


def main():
    root = os.path.realpath(sys.argv[1])
    docs = os.path.join(root, "docs")
    pages = [os.path.join(root, "README.md")] + sorted(
        os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))
    problems = []
    for page in pages:
        check_links(root, page, problems)
    check_outside_mentions(root, problems)
    for p in problems:
        print(p)
    print(f"{len(pages)} pages checked: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
