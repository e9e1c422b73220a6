"""A hostile deployment package: links that each look inside the package root
but, resolved the way the extraction (and then the kernel) will, lead out of
it. Every such package is refused on upload and never extracted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdad.catalog import extract_zip, inspect_zip
from lambdad.errors import InvalidParameterValue
from support.server import ROLE, LambdadServer, boto3_client
from support.zips import links_zip


def link(name: str, target: str) -> tuple[str, str, bool]:
    return (name, target, True)


def file(name: str, content: str = "x") -> tuple[str, str, bool]:
    return (name, content, False)


ESCAPING = {
    # Each target normalizes to "." lexically; d is the root, so d/.. is its parent.
    "chain": links_zip(link("d", "."), link("e", "d/.."), link("f", "e/..")),
    "chain-reversed": links_zip(link("f", "e/.."), link("e", "d/.."), link("d", ".")),
    "through-repeated-link": links_zip(link("d", "."), link("g", "d/d/d/../..")),
    "via-subdir-link": links_zip(file("sub/x"), link("up", "sub/.."), link("out", "up/../..")),
    "link-to-escaping-link": links_zip(link("d", "."), link("e", "d/.."), link("h", "e")),
    "loop": links_zip(link("a", "b"), link("b", "a")),
    "file-over-link": links_zip(file("real/x"), link("x", "real"), file("x", "overwrite")),
    "link-over-earlier-dir": links_zip(file("a/b"), link("a", ".")),
    "nul-in-target": links_zip(link("n", "app.py\0../../etc")),
    "empty-target": links_zip(link("n", "")),
}

INSIDE = {
    "sibling": links_zip(link("lib/link", "../app.py")),
    "root": links_zip(link("cur", ".")),
    "dir-link": links_zip(file("real/pkg/mod.py"), link("pkg", "real/pkg")),
    "dangling-inside": links_zip(link("later", "not/yet/there")),
    "chain-inside": links_zip(file("a/b/c.txt"), link("l1", "a/b"), link("l2", "l1/c.txt")),
}


@pytest.mark.parametrize("name", sorted(ESCAPING))
def test_escaping_links_are_refused_on_upload(name: str) -> None:
    with pytest.raises(InvalidParameterValue, match="Zip entry"):
        inspect_zip(ESCAPING[name])


@pytest.mark.parametrize("name", sorted(ESCAPING))
def test_escaping_links_are_never_extracted(name: str, tmp_path: Path) -> None:
    parent = tmp_path / "x" / "y"
    parent.mkdir(parents=True)
    with pytest.raises(InvalidParameterValue):
        extract_zip(ESCAPING[name], parent / "dest")
    assert list(parent.iterdir()) == [], "nothing is left beside the destination"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


@pytest.mark.parametrize("name", sorted(INSIDE))
def test_links_that_stay_inside_are_kept(name: str, tmp_path: Path) -> None:
    inspect_zip(INSIDE[name])
    dest = tmp_path / "dest"
    extract_zip(INSIDE[name], dest)
    for path in dest.rglob("*"):
        if path.exists():  # a dangling link may point at nothing yet
            assert path.resolve().is_relative_to(dest.resolve()), path


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data_dir = tmp_path_factory.mktemp("archives") / "data"
    with LambdadServer(data_dir) as running:
        yield boto3_client(running.url)


def test_server_refuses_the_chain_and_keeps_nothing(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidParameterValueException, match="outside"):
        client.create_function(
            FunctionName="link-chain",
            Runtime="python3.12",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": ESCAPING["chain"]},
        )
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName="link-chain")
    assert client.get_account_settings()["AccountUsage"]["TotalCodeSize"] == 0
