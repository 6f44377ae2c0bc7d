#!/usr/bin/env python3
"""Builds and runs a downstream consumer project against this checkout.

  run.py meson SOURCE_ROOT BUILD_ROOT        dependency('edgepipe') and ('edgepipe-proto'), as a subproject
  run.py meson-core SOURCE_ROOT BUILD_ROOT   dependency('edgepipe-core') with the full library disabled
  run.py wrap-file SOURCE_ROOT BUILD_ROOT    the `meson dist` tarball through a [wrap-file] with its hash
  run.py cmake SOURCE_ROOT BUILD_ROOT        find_package(edgepipe) against `meson install --tags devel`
  run.py cmake-core SOURCE_ROOT BUILD_ROOT   find_package(edgepipe COMPONENTS core), the full library's
                                             packages forbidden, against a build with every option off
  run.py pkg-config SOURCE_ROOT BUILD_ROOT   edgepipe-core.pc and edgepipe.pc, likewise

Everything happens in a fresh temporary folder; nothing is downloaded. The meson tests use
the working tree as it is, except wrap-file: a release tarball holds what is committed.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# Every option that adds a program: off, a consumer's build of edgepipe builds nothing.
ALL_OFF = ["-Dreference=false", "-Dbench=false", "-Dfuzz=false", "-Dexamples=false", "-Dtests=false"]
# What the full library looks for in CMake; COMPONENTS core must need none of it.
FULL_PACKAGES = ["Threads", "Boost", "OpenSSL", "ZLIB", "Protobuf", "PkgConfig"]


def run(*cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kw)


def output(*cmd, **kw):
    print("+", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def project_version(build_root):
    return json.loads(output("meson", "introspect", "--projectinfo", build_root))["version"]


def meson_project(work, version, source_hash="(unused: the folder is in place)"):
    """A copy of the consumer project, with the wrap filled in for this version."""
    project = os.path.join(work, "consumer")
    shutil.copytree(os.path.join(HERE, "meson_subproject"), project)
    for f in ("main.cpp", "proto_main.cpp"):
        shutil.copy(os.path.join(HERE, "app", f), project)
    wrap = os.path.join(project, "subprojects", "edgepipe.wrap")
    with open(wrap, encoding="utf-8") as f:
        text = f.read().replace("@VERSION@", version).replace("@SOURCE_HASH@", source_hash)
    with open(wrap, "w", encoding="utf-8") as f:
        f.write(text)
    return project


def build_meson_consumer(project, work, *options, programs=("consumer",)):
    build = os.path.join(work, "build")
    run("meson", "setup", build, project, "--wrap-mode=nodownload", "--force-fallback-for=edgepipe", *options)
    run("meson", "compile", "-C", build)
    for program in programs:
        run(os.path.join(build, program))
    return build


def meson_consumer(source_root, build_root, work, use):
    version = project_version(build_root)
    project = meson_project(work, version)
    # The wrap's folder already in place is used as is: here, the tree under test.
    os.symlink(source_root, os.path.join(project, "subprojects", f"edgepipe-{version}"))
    programs = ("consumer",) if use == "core" else ("consumer", "proto-consumer")
    build = build_meson_consumer(project, work, f"-Duse={use}", programs=programs)
    if use == "core":
        log = open(os.path.join(build, "meson-logs", "meson-log.txt"), encoding="utf-8").read()
        for looked_for in ("libsodium", "hiredis", "protobuf"):
            if f"Run-time dependency {looked_for} found" in log:
                sys.exit(f"a core-only consumer made edgepipe look for {looked_for}")


def dist_tarball(source_root, work):
    """The release tarball of the committed tree, made by `meson dist` from a fresh build dir."""
    build = os.path.join(work, "dist-build")
    run("meson", "setup", build, source_root, "--wrap-mode=nodownload", *ALL_OFF)
    dirty = subprocess.run(["git", "-C", source_root, "diff-index", "--quiet", "HEAD"]).returncode != 0
    if dirty:
        print("note: uncommitted changes are not in the tarball; it holds HEAD", flush=True)
    run("meson", "dist", "-C", build, "--no-tests", "--formats", "xztar", *(["--allow-dirty"] if dirty else []))
    dist = os.path.join(build, "meson-dist")
    tarballs = [f for f in os.listdir(dist) if f.endswith(".tar.xz")]
    if len(tarballs) != 1:
        sys.exit(f"meson dist made {tarballs}, not one .tar.xz")
    return os.path.join(dist, tarballs[0])


def wrap_file_consumer(source_root, work):
    top = subprocess.run(["git", "-C", source_root, "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    if top.returncode != 0 or os.path.realpath(top.stdout.strip()) != os.path.realpath(source_root):
        print("not a git checkout (a release tarball?): meson dist cannot run here")
        sys.exit(77)  # meson's code for a skipped test
    tarball = dist_tarball(source_root, work)
    name = os.path.basename(tarball)
    version = name[len("edgepipe-"):-len(".tar.xz")]
    with open(tarball, "rb") as f:
        source_hash = hashlib.sha256(f.read()).hexdigest()
    with open(tarball + ".sha256sum", encoding="utf-8") as f:
        if f.read().split()[0] != source_hash:
            sys.exit("the .sha256sum meson dist wrote does not match its tarball")
    project = meson_project(work, version, source_hash)
    cache = os.path.join(project, "subprojects", "packagecache")
    os.makedirs(cache)
    shutil.copy(tarball, cache)
    build_meson_consumer(project, work, "-Duse=full", programs=("consumer", "proto-consumer"))
    if not os.path.isfile(os.path.join(project, "subprojects", f"edgepipe-{version}", "meson.build")):
        sys.exit("the consumer did not build edgepipe from the unpacked tarball")


def staged_prefix(stage):
    prefixes = [root for root, dirs, _ in os.walk(stage) if "include" in dirs]
    if not prefixes:
        sys.exit("meson install put no include/ folder under the staging directory")
    return prefixes[0]


def minimal_install(source_root, work):
    """Every option off: nothing to build, and headers, .pc, CMake and .proto files installed."""
    build = os.path.join(work, "minimal-build")
    run("meson", "setup", build, source_root, "--wrap-mode=nodownload", "--prefix=/usr", *ALL_OFF)
    plan = output("ninja", "-C", build, "-n")
    if "no work to do" not in plan:
        sys.exit(f"a build with every option off still builds:\n{plan}")
    stage = os.path.join(work, "stage")
    run("meson", "install", "--quiet", "-C", build, "--destdir", stage)
    prefix = staged_prefix(stage)
    installed = sorted(os.path.relpath(os.path.join(d, f), prefix) for d, _, files in os.walk(prefix) for f in files)
    others = [f for f in installed if not f.startswith(("include/edgepipe/", "share/edgepipe/proto/"))
              and f not in ("share/pkgconfig/edgepipe-core.pc", "share/pkgconfig/edgepipe.pc",
                            "share/cmake/edgepipe/edgepipeConfig.cmake",
                            "share/cmake/edgepipe/edgepipeConfigVersion.cmake")]
    if others:
        sys.exit(f"a build with every option off installs more than a consumer needs: {others}")
    for needed in ("include/edgepipe/pipeline/chain.hpp", "share/edgepipe/proto/edgepipe/gateway/v1/gateway.proto",
                   "share/pkgconfig/edgepipe-core.pc", "share/cmake/edgepipe/edgepipeConfig.cmake"):
        if needed not in installed:
            sys.exit(f"not installed: {needed}")
    return stage, prefix


def cmake_consumer(prefix, work, *options):
    build = os.path.join(work, "build")
    source = os.path.join(work, "cmake_find_package")
    shutil.copytree(os.path.join(HERE, "cmake_find_package"), source)
    shutil.copytree(os.path.join(HERE, "app"), os.path.join(work, "app"))
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    run("cmake", "-S", source, "-B", build, *generator, f"-DCMAKE_PREFIX_PATH={prefix}", *options)
    run("cmake", "--build", build)
    run(os.path.join(build, "consumer"))


def pkg_config_env(stage):
    return dict(os.environ, PKG_CONFIG_PATH=os.pathsep.join(
        os.path.join(root, d) for root, dirs, _ in os.walk(stage) for d in dirs if d == "pkgconfig"),
        PKG_CONFIG_SYSROOT_DIR=stage)


def pkg_config_consumer(stage, work):
    env = pkg_config_env(stage)
    if output("pkg-config", "--print-requires", "edgepipe-core", env=env).strip():
        sys.exit("edgepipe-core.pc requires other packages; the core needs only the standard library")
    cxx = os.environ.get("CXX", "c++")
    for package in ("edgepipe-core", "edgepipe"):
        flags = output("pkg-config", "--cflags", "--libs", package, env=env).split()
        print(f"pkg-config --cflags --libs {package}:", " ".join(flags))
        if "-std=c++20" not in flags:
            sys.exit(f"{package}.pc does not ask for C++20")
        program = os.path.join(work, package)
        run(cxx, "-Wall", "-Wextra", "-Wpedantic", "-Werror", os.path.join(HERE, "app", "main.cpp"), "-o", program,
            *flags)
        run(program)


def main():
    kind, source_root, build_root = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    with tempfile.TemporaryDirectory(prefix=f"edgepipe-{kind}-consumer-") as work:
        if kind == "meson":
            meson_consumer(source_root, build_root, work, "full")
        elif kind == "meson-core":
            meson_consumer(source_root, build_root, work, "core")
        elif kind == "wrap-file":
            wrap_file_consumer(source_root, work)
        elif kind == "cmake":
            stage = os.path.join(work, "stage")
            run("meson", "install", "--no-rebuild", "--quiet", "--tags", "devel", "-C", build_root, "--destdir", stage)
            cmake_consumer(staged_prefix(stage), work)
        elif kind == "cmake-core":
            _, prefix = minimal_install(source_root, work)
            cmake_consumer(prefix, work, "-DCORE_ONLY=ON", *(f"-DCMAKE_DISABLE_FIND_PACKAGE_{p}=ON" for p in FULL_PACKAGES))
        elif kind == "pkg-config":
            stage, _ = minimal_install(source_root, work)
            pkg_config_consumer(stage, work)
        else:
            sys.exit(f"unknown consumer kind {kind}")


if __name__ == "__main__":
    main()
