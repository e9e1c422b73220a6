"""A function that goes after the layers it shares with other functions.

/opt is one tree per layer combination, shared read-only by every environment
(hard links to the layers unpacked once on the host). A function that tries to
change it, through the file, a link or a rename, must fail, and another
function using the same layers must see them unchanged. Archives that try to
escape /opt are refused at PublishLayerVersion, before anything is unpacked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.hostile import sandbox_server
from support.invoke import InvokeServer, create_function, invoke_json
from support.lambda_calls import unique
from support.zips import make_zip, symlink_zip

ATTACKER_SOURCE = r"""
import os


def attempt(fn):
    try:
        fn()
        return "done"
    except OSError as e:
        return e.errno


def overwrite():
    with open("/opt/python/shared.py", "w") as f:
        f.write("VALUE = 'tampered'\n")


def handler(event, context):
    return {
        "overwrite": attempt(overwrite),
        "chmod": attempt(lambda: os.chmod("/opt/python/shared.py", 0o777)),
        "unlink": attempt(lambda: os.unlink("/opt/python/shared.py")),
        "rename": attempt(lambda: os.rename("/opt/python", "/opt/elsewhere")),
        "new_file": attempt(lambda: open("/opt/python/planted.py", "w").close()),
        "link_out": attempt(lambda: os.link("/opt/python/shared.py", "/tmp/grab.py")),
    }
"""

READER_SOURCE = """
import shared


def handler(event, context):
    return {"value": shared.VALUE}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    with sandbox_server(tmp_path_factory, "layers-attack") as running:
        yield running


def test_a_function_cannot_change_the_layers_it_shares(server: InvokeServer) -> None:
    lam: Any = server.client()
    arns = [
        lam.publish_layer_version(
            LayerName=unique("layer"),
            Content={"ZipFile": make_zip({"python/shared.py": f"VALUE = {value!r}\n"})},
        )["LayerVersionArn"]
        for value in ("first", "original")
    ]
    attacker = create_function(lam, unique("attacker"), {"app.py": ATTACKER_SOURCE}, Layers=arns)
    attacks, response = invoke_json(lam, attacker)
    assert "FunctionError" not in response, attacks
    # Read-only mount: every change is refused (EROFS); a hard link out of /opt
    # crosses mounts (EXDEV). Nothing the function does reaches the shared tree.
    assert all(outcome != "done" for outcome in attacks.values()), attacks

    reader = create_function(lam, unique("reader"), {"app.py": READER_SOURCE}, Layers=arns)
    assert invoke_json(lam, reader)[0] == {"value": "original"}
    unpacked = list((server.data_dir / "code").glob("*/python/shared.py"))
    assert sorted(p.read_text() for p in unpacked) == ["VALUE = 'first'\n", "VALUE = 'original'\n"]


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("python/up", "../../etc/passwd"),
        ("python/abs", "/etc"),
        ("bin/tool", "../../../proc/self/root"),
    ],
)
def test_layer_archives_that_escape_opt_are_refused(
    server: InvokeServer, name: str, target: str
) -> None:
    lam: Any = server.client()
    with pytest.raises(ClientError) as exc:
        lam.publish_layer_version(
            LayerName=unique("escape"), Content={"ZipFile": symlink_zip(name, target)}
        )
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert not list((server.data_dir / "code").glob("*/" + name))
