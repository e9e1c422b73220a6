"""Layers in the execution environment: /opt in order, the runtime paths, shared trees.

Runs against a live server with the bwrap sandbox backend; skipped without
root or bubblewrap, and the Node test without `node` on the host.
"""

from __future__ import annotations

import base64
import os
import shutil
from typing import Any

import pytest

from support.invoke import InvokeServer, create_function, invoke_json
from support.lambda_calls import unique
from support.zips import make_zip, symlink_zip

pytestmark = pytest.mark.compat

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="nodejs is not installed")

REPORT_SOURCE = """
import os
import sys

import {module}


def handler(event, context):
    found = os.stat({module}.__file__)
    return {{
        "value": {module}.VALUE,
        "file": {module}.__file__,
        "inode": found.st_ino,
        "links": found.st_nlink,
        "environ": dict(os.environ),
        "path": sys.path,
        "bin": os.popen("greet-from-layer").read().strip(),
    }}
"""


def publish(lam: Any, files: dict[str, str], executable: tuple[str, ...] = ()) -> str:
    published = lam.publish_layer_version(
        LayerName=unique("layer"), Content={"ZipFile": make_zip(files, executable)}
    )
    arn: str = published["LayerVersionArn"]
    return arn


def report(module: str) -> dict[str, str]:
    return {"app.py": REPORT_SOURCE.format(module=module)}


GREET = {"bin/greet-from-layer": "#!/bin/sh\necho hello from /opt/bin\n"}


def test_a_layer_provides_a_python_package(lam: Any) -> None:
    site = "python/lib/python3.12/site-packages"
    layer = publish(
        lam,
        {
            f"{site}/vendored/__init__.py": "VALUE = 'site-packages'\n",
            "python/plain.py": "VALUE = 'python dir'\n",
            f"{site}/extra.pth": "/opt/extra\n",
            "extra/through_pth.py": "VALUE = 'a .pth file'\n",
            **GREET,
        },
        executable=("bin/greet-from-layer",),
    )
    name = create_function(lam, unique("fn"), report("vendored"), Layers=[layer])
    got, response = invoke_json(lam, name)
    assert "FunctionError" not in response, got
    assert got["value"] == "site-packages"
    assert got["file"] == f"/opt/{site}/vendored/__init__.py"
    assert got["bin"] == "hello from /opt/bin"
    environ = got["environ"]
    assert environ["PYTHONPATH"] == "/var/runtime"  # AWS's; the layers' dirs come in sys.path
    assert got["path"][:3] == ["/var/task", f"/opt/{site}", "/opt/python"]
    assert "/opt/bin" in environ["PATH"].split(":")
    assert environ["LD_LIBRARY_PATH"].split(":")[-1] == "/opt/lib"

    plain = create_function(lam, unique("fn"), report("plain"), Layers=[layer])
    assert invoke_json(lam, plain)[0]["value"] == "python dir"
    pth = create_function(lam, unique("fn"), report("through_pth"), Layers=[layer])
    assert invoke_json(lam, pth)[0]["value"] == "a .pth file"


def test_a_later_layer_overrides_a_file_of_an_earlier_one_without_copies(
    lam: Any, invoke_server: InvokeServer
) -> None:
    first = publish(
        lam, {"python/shared.py": "VALUE = 'first'\n", "python/only_first.py": "VALUE = 1\n"}
    )
    second = publish(lam, {"python/shared.py": "VALUE = 'second'\n"})
    name = create_function(lam, unique("fn"), report("shared"), Layers=[first, second])
    got = invoke_json(lam, name)[0]
    assert got["value"] == "second"
    assert got["file"] == "/opt/python/shared.py"

    reverse = create_function(lam, unique("fn"), report("shared"), Layers=[second, first])
    assert invoke_json(lam, reverse)[0]["value"] == "first"
    earlier = create_function(lam, unique("fn"), report("only_first"), Layers=[first, second])
    assert invoke_json(lam, earlier)[0]["value"] == 1

    # The merged tree links to the unpacked layer: the file the function read is the
    # very inode unpacked once on the host, shared by every environment (of the server
    # process that ran it: with --workers each has its own code dir).
    sha = lam.get_layer_version_by_arn(Arn=second)["Content"]["CodeSha256"]
    key = base64.b64decode(sha).hex()
    unpacked = [own / "code" / key / "python" / "shared.py" for own in invoke_server.own_dirs()]
    assert got["inode"] in {os.stat(path).st_ino for path in unpacked if path.exists()}
    assert got["links"] >= 2
    for own in invoke_server.own_dirs():
        environments = own / "environments"
        assert not list(environments.glob("*/lambdad-runtime/opt/python/shared.py"))


def test_function_code_shadows_a_layer_module(lam: Any) -> None:
    layer = publish(lam, {"python/shadowed.py": "VALUE = 'layer'\n"})
    files = {**report("shadowed"), "shadowed.py": "VALUE = 'function'\n"}
    name = create_function(lam, unique("fn"), files, Layers=[layer])
    got = invoke_json(lam, name)[0]
    assert got["value"] == "function"
    assert got["file"] == "/var/task/shadowed.py"


BOOTSTRAP = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  headers=$(mktemp)
  event=$(python3 -c "
import sys, urllib.request
with urllib.request.urlopen('$API/invocation/next') as r:
    open('$headers', 'w').write(r.headers['Lambda-Runtime-Aws-Request-Id'])
    sys.stdout.write(r.read().decode())
")
  id=$(cat "$headers")
  python3 -c "
import urllib.request
body = b'{\\"from\\": \\"layer bootstrap\\", \\"handler\\": \\"$_HANDLER\\"}'
urllib.request.urlopen(urllib.request.Request('$API/invocation/$id/response', body)).read()
"
done
"""


def test_provided_runtime_takes_its_bootstrap_from_a_layer(lam: Any) -> None:
    layer = publish(lam, {"bootstrap": BOOTSTRAP}, executable=("bootstrap",))
    name = create_function(
        lam,
        unique("fn"),
        {"README": "no bootstrap here\n"},
        runtime="provided.al2023",
        handler="my.handler",
        Layers=[layer],
    )
    got, response = invoke_json(lam, name, {"x": 1})
    assert "FunctionError" not in response, got
    assert got == {"from": "layer bootstrap", "handler": "my.handler"}


@needs_node
def test_node_finds_layer_modules(lam: Any) -> None:
    layer = publish(
        lam,
        {
            "nodejs/node_modules/greeting/index.js": "module.exports = 'node_modules';\n",
            "nodejs/node20/node_modules/versioned/index.js": "module.exports = 'node20';\n",
        },
    )
    source = (
        "exports.handler = async () => ({ a: require('greeting'), b: require('versioned'),"
        " path: process.env.NODE_PATH });\n"
    )
    name = create_function(
        lam,
        unique("fn"),
        {"index.js": source},
        runtime="nodejs20.x",
        handler="index.handler",
        Layers=[layer],
    )
    got, response = invoke_json(lam, name)
    assert "FunctionError" not in response, got
    assert got["a"] == "node_modules" and got["b"] == "node20"
    assert got["path"].startswith("/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules")


def test_hostile_layers_are_refused(lam: Any) -> None:
    for data in (symlink_zip(), symlink_zip("python/link", "/etc")):
        with pytest.raises(Exception) as exc:
            lam.publish_layer_version(LayerName=unique("bad"), Content={"ZipFile": data})
        assert "InvalidParameterValueException" in str(exc.value)
