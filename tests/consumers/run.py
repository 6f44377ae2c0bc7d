#!/usr/bin/env python3
"""Builds and runs a downstream consumer project against this checkout.

  run.py meson SOURCE_ROOT BUILD_ROOT   dependency('edgepipe') through a wrap, as a subproject
  run.py cmake SOURCE_ROOT BUILD_ROOT   find_package(edgepipe) against `meson install`ed files

Everything happens in a fresh temporary folder; nothing is downloaded.
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def run(*cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def meson_consumer(source_root, work):
    project = os.path.join(work, "consumer")
    shutil.copytree(os.path.join(HERE, "meson_subproject"), project)
    shutil.copy(os.path.join(HERE, "app", "main.cpp"), project)
    # The wrap names the public repository; a checkout already in place is used as is,
    # which is how this test (offline) points it at the tree under test.
    os.symlink(source_root, os.path.join(project, "subprojects", "edgepipe"))
    build = os.path.join(work, "build")
    run("meson", "setup", build, project, "--wrap-mode=nodownload", "--force-fallback-for=edgepipe")
    run("meson", "compile", "-C", build)
    run(os.path.join(build, "consumer"))


def cmake_consumer(source_root, build_root, work):
    stage = os.path.join(work, "stage")
    run("meson", "install", "--no-rebuild", "--quiet", "-C", build_root, "--destdir", stage)
    prefixes = [os.path.join(root) for root, dirs, _ in os.walk(stage) if "include" in dirs]
    if not prefixes:
        sys.exit("meson install put no include/ folder under the staging directory")
    prefix = prefixes[0]
    for needed in ("include/edgepipe/pipeline/chain.hpp",):
        if not os.path.exists(os.path.join(prefix, needed)):
            sys.exit(f"not installed: {needed}")
    build = os.path.join(work, "build")
    source = os.path.join(work, "cmake_find_package")
    shutil.copytree(os.path.join(HERE, "cmake_find_package"), source)
    shutil.copytree(os.path.join(HERE, "app"), os.path.join(work, "app"))
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    run("cmake", "-S", source, "-B", build, *generator, f"-DCMAKE_PREFIX_PATH={prefix}")
    run("cmake", "--build", build)
    run(os.path.join(build, "consumer"))
    # The pkg-config file installed beside it must describe the same headers.
    env = dict(os.environ, PKG_CONFIG_PATH=os.pathsep.join(
        os.path.join(root, d) for root, dirs, _ in os.walk(stage) for d in dirs if d == "pkgconfig"),
        PKG_CONFIG_SYSROOT_DIR=stage)
    cflags = subprocess.run(["pkg-config", "--cflags", "edgepipe"], env=env, check=True,
                            capture_output=True, text=True).stdout
    print("pkg-config --cflags edgepipe:", cflags.strip())
    if "-std=c++20" not in cflags:
        sys.exit("edgepipe.pc does not ask for C++20")


def main():
    kind, source_root, build_root = sys.argv[1:4]
    with tempfile.TemporaryDirectory(prefix=f"edgepipe-{kind}-consumer-") as work:
        if kind == "meson":
            meson_consumer(os.path.abspath(source_root), work)
        elif kind == "cmake":
            cmake_consumer(os.path.abspath(source_root), os.path.abspath(build_root), work)
        else:
            sys.exit(f"unknown consumer kind {kind}")


if __name__ == "__main__":
    main()
