"""A live `lambdad server --sandbox process` runs functions deployed through the API.

As root that backend runs each function as the sandbox's uid on the host's own
files, reading its code by host path. pytest's tmp dirs are mode 700 under root,
so the data dir here is out of that uid's reach on purpose: the server must keep
what sandboxes read where they can reach it (it once failed every Init with
"No module named 'app'"), and remove that place when it stops.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdad.runtimes.interpreters import default_catalog
from lambdad.sandbox import reachable_by_others
from support.image_roots import busybox_rootfs, layer_of
from support.images import build_image
from support.server import ROLE, LambdadServer, boto3_client, run_lambdad

pytestmark = pytest.mark.compat

PYTHON_APP = "def handler(event, context):\n    return {'hello': event.get('name')}\n"
LAYERED_APP = "import shared\ndef handler(event, context):\n    return shared.VALUE\n"
NODE_APP = "exports.handler = async (event) => ({ hello: event.name });\n"


def _zip(name: str, source: str) -> bytes:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr(name, source)
    return code.getvalue()


def _deploy_and_invoke(client: Any, name: str, runtime: str, code: bytes, **more: Any) -> Any:
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": code},
        **more,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    response = client.invoke(FunctionName=name, Payload=json.dumps({"name": "process"}))
    assert "FunctionError" not in response, response["Payload"].read()
    return json.load(response["Payload"])


def test_functions_run_on_a_process_backend_server(tmp_path: Path) -> None:
    others = default_catalog().for_other_users() if os.geteuid() == 0 else default_catalog()
    if others.init_python is None:
        pytest.skip("no Python 3.9+ here that the sandbox uid can run (e.g. /usr/bin/python3)")
    data_dir = tmp_path / "data"
    with LambdadServer(data_dir, args=["--sandbox", "process"]) as server:
        assert server.backend == "process", server.log()
        client = boto3_client(server.url)
        # The README's sample function.
        payload = _deploy_and_invoke(client, "greeter", "python3.12", _zip("app.py", PYTHON_APP))
        assert payload == {"hello": "process"}, server.log()
        layer = client.publish_layer_version(
            LayerName="shared", Content={"ZipFile": _zip("python/shared.py", "VALUE = 'layer'\n")}
        )
        layers = {"Layers": [layer["LayerVersionArn"]]}
        code = _zip("app.py", LAYERED_APP)
        payload = _deploy_and_invoke(client, "layered", "python3.12", code, **layers)
        assert payload == "layer", server.log()
        if others.nodes:
            payload = _deploy_and_invoke(client, "noder", "nodejs20.x", _zip("app.js", NODE_APP))
            assert payload == {"hello": "process"}, server.log()
        moved = re.search(r"keeps code, /opt trees and work dirs in (\S+) while", server.full_log())
    out_of_reach = os.geteuid() == 0 and not reachable_by_others(tmp_path)
    assert bool(moved) == out_of_reach
    if moved:  # the server's temporary place for them is gone with it
        assert not Path(moved.group(1)).exists()


def test_image_functions_are_refused_at_create(tmp_path: Path) -> None:
    """No isolation, no root of its own: the process backend cannot run an image, so the
    server says so when the function is created, not with a 500 at its first invoke."""
    with LambdadServer(tmp_path / "data", args=["--sandbox", "process"]) as server:
        image = build_image(
            [layer_of(busybox_rootfs(tmp_path / "root"))],
            entrypoint=["/var/runtime/bootstrap"], cmd=["function.handler"], env=["PATH=/bin"],
        )  # fmt: skip
        archive = tmp_path / "image.tar"
        archive.write_bytes(image.oci_layout())
        imported = run_lambdad("images", "import", str(archive), "--name", "plain:v1",
                               endpoint=server.url)  # fmt: skip
        assert imported.returncode == 0, imported.stderr
        client = boto3_client(server.url)
        with pytest.raises(ClientError) as refused:
            client.create_function(
                FunctionName="imaged", PackageType="Image", Code={"ImageUri": "plain:v1"},
                Role=ROLE,
            )  # fmt: skip
        error = refused.value.response["Error"]
        assert error["Code"] == "InvalidParameterValueException"
        assert "need the bwrap sandbox backend" in error["Message"]
        assert client.list_functions()["Functions"] == []
