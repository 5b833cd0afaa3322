"""``pivotrl sandbox build | doctor | run`` and the image recipe."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from pivotrl_sandboxes.build import LAYER, Recipe, image_status, rootfs_path


@pytest.fixture(scope="module")
def cli():  # noqa: ANN201
    from pivotrl_core.cli import build_cli

    return build_cli()


def test_recipe_hash_tracks_every_field() -> None:
    base = Recipe()
    assert base.hash() == Recipe().hash()
    for change in ({"suite": "trixie"}, {"include": ("python3",)}, {"mirror": "http://x"}, {"image": "a/b"}):
        assert Recipe(**change).hash() != base.hash()
    assert base.hash() in base.base_image and base.hash() in rootfs_path(base).name
    assert "FROM {base}" in LAYER


@pytest.mark.docker
def test_build_is_idempotent(docker_ready: None, cli) -> None:  # noqa: ANN001
    assert image_status() == "ready"
    res = CliRunner().invoke(cli, ["sandbox", "build"])
    assert res.exit_code == 0, res.output
    assert "image up to date: pivotrl/sandbox-py" in res.output
    assert "debootstrap" not in res.output  # nothing was rebuilt


@pytest.mark.docker
def test_image_has_the_sandbox_users_and_python(docker_ready: None) -> None:
    from pivotrl_sandboxes.containers import docker_client

    out = docker_client().containers.run(
        "pivotrl/sandbox-py", ["sh", "-c", "id sandbox; id keeper; python3 --version; echo $HOME; pwd"],
        remove=True, network_mode="none",
    ).decode()  # fmt: skip
    assert "uid=1000(sandbox)" in out and "uid=1001(keeper)" in out and "Python 3.11" in out
    assert out.split()[-2:] == ["/tmp", "/work"]


def test_doctor_reports_each_check(cli) -> None:  # noqa: ANN001
    res = CliRunner().invoke(cli, ["sandbox", "doctor", "--json"])
    checks = {c["check"]: c for c in json.loads(res.output)}
    assert {"docker SDK", "bubblewrap", "auto backend"} <= set(checks)
    assert res.exit_code == (0 if checks["auto backend"]["ok"] else 1)
    if checks.get("docker image", {}).get("ok"):
        assert checks["docker run"]["ok"] and checks["auto backend"]["detail"] == "docker"


@pytest.mark.parametrize("name", ["bwrap", pytest.param("docker", marks=pytest.mark.docker)])
def test_run_command_exits_with_the_command_status(cli, name: str, request: pytest.FixtureRequest) -> None:  # noqa: ANN001
    request.getfixturevalue(f"{name}_ready")
    res = CliRunner().invoke(cli, ["sandbox", "run", "--backend", name, "--json", "echo hi; exit 3"])
    assert res.exit_code == 3
    payload = json.loads(res.output)
    assert payload["backend"] == name and payload["stdout"] == "hi\n" and payload["exit_code"] == 3


def test_unknown_backend_names_the_choices(cli) -> None:  # noqa: ANN001
    res = CliRunner().invoke(cli, ["sandbox", "run", "--backend", "dokcer", "true"])
    assert res.exit_code == 2
    assert "did you mean 'docker'" in res.output
