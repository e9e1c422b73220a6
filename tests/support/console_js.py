"""Running the console's JavaScript modules in Node.js, for unit tests of the parts
that need no browser (the signer, the zip reader and writer)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import lambdad.console

STATIC_JS = Path(lambdad.console.__file__).parent / "static" / "js"
NODE_TIMEOUT_S = 60


def module_url(name: str) -> str:
    return (STATIC_JS / name).as_uri()


def run_node(script: str, data: Any) -> Any:
    """Runs `script` (an ES module that reads JSON on stdin and prints JSON) with Node;
    its parsed output. setup.sh installs Node (the nodejs runtimes need it too)."""
    node = shutil.which("node")
    assert node is not None, "Node.js is missing: scripts/setup.sh installs it"
    result = subprocess.run(
        [node, "--input-type=module", "-e", script],
        input=json.dumps(data),
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


READ_STDIN = """
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));
"""
