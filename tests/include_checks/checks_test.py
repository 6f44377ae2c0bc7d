"""The include checks can fail: on a tree with one violation of each rule each script
exits 1 and names the file, line and include; on the same tree without them it passes.

usage: checks_test.py CHECK_LAYERS CHECK_STD_INCLUDES"""
import pathlib
import subprocess
import sys
import tempfile

check_layers, check_std_includes = sys.argv[1], sys.argv[2]

CLEAN = {
    "include/edgepipe/status.hpp": "#pragma once\n#include <algorithm>\n// std::vector, in a comment\n"
                                   "inline int f() { return std::min(1, 2); }\n",
    "include/edgepipe/pipeline/detail/check.hpp": "#pragma once\n",
    "include/edgepipe/pipeline/chain.hpp": "#include <edgepipe/pipeline/detail/check.hpp>\n",
    "include/edgepipe/transport/detail/call.hpp": "#include <edgepipe/status.hpp>\n",
    "include/edgepipe/transport/server.hpp": "#include <edgepipe/transport/detail/call.hpp>\n",
    "include/edgepipe/stages/replay.hpp": "#include <edgepipe/status.hpp>\n",
    "reference/gateway/main.cpp": "#include <edgepipe/transport/server.hpp>\n",
}
BROKEN = {
    "include/edgepipe/stages/replay.hpp": "#include <edgepipe/status.hpp>\n#include <edgepipe/transport/server.hpp>\n",
    "include/edgepipe/transport/router.hpp": "#include <edgepipe/pipeline/detail/check.hpp>\n",
    "include/edgepipe/widgets/w.hpp": "#include <edgepipe/status.hpp>\n",
    "include/edgepipe/protocol/frame.hpp": "#include <string>\ninline auto g() { return std::min(1, 2); }\n",
    "reference/gateway/main.cpp": "// a user\n#include <edgepipe/transport/detail/call.hpp>\n",
}
EXPECTED = {
    check_layers: [
        "edgepipe/stages/replay.hpp:2: #include <edgepipe/transport/server.hpp>: layer 'stages' includes 'transport'",
        "edgepipe/transport/router.hpp:1: #include <edgepipe/pipeline/detail/check.hpp>: the detail/ of layer 'core'",
        "edgepipe/widgets/w.hpp: folder 'widgets' is not a layer",
        "reference/gateway/main.cpp:2: #include <edgepipe/transport/detail/call.hpp>",
    ],
    check_std_includes: ["edgepipe/protocol/frame.hpp:2: std::min needs <algorithm>"],
}


def write(root, files):
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def run(script, root):
    r = subprocess.run([sys.executable, script, str(root)], capture_output=True, text=True)
    return r.returncode, r.stdout


with tempfile.TemporaryDirectory() as tmp:
    root = pathlib.Path(tmp)
    write(root, CLEAN)
    for script in EXPECTED:
        code, out = run(script, root)
        assert code == 0, f"{script} on the clean tree:\n{out}"
    write(root, BROKEN)
    for script, expected in EXPECTED.items():
        code, out = run(script, root)
        assert code == 1, f"{script} on the broken tree:\n{out}"
        for line in expected:
            assert line in out, f"{script}: missing {line!r} in:\n{out}"
print("ok")
