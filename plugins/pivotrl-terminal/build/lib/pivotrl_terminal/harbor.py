"""Terminal-Bench 2 tasks in Harbor's format, run offline in a pivotrl sandbox.

Layout (Harbor's ``TaskPaths``)::

    <task>/
      task.toml            [agent] timeout_sec, [verifier] timeout_sec, [environment] memory_mb,
                           [metadata] (free form); other keys are Harbor's and not used here
      instruction.md       the task instruction (required)
      environment/         the build context; Dockerfile (required)
      solution/solve.sh    the reference solution (the oracle agent types it)
      tests/test.sh        runs in the work dir after the agent; writes the reward (1 = pass) to
                           /logs/verifier/reward.txt; tests/ is copied in only then

No registry is reachable, so nothing is pulled and no image is built: the Dockerfile is applied
to the offline sandbox image. It must start ``FROM pivotrl/sandbox-py`` (any other base cannot be
built offline: a clear :class:`~pivotrl_core.InputError`, exit 2) and may use ``WORKDIR`` (the
sandbox work dir), ``COPY`` (build-context files into the work dir), ``ENV`` and ``RUN`` (run in
the work dir before the agent starts); ``LABEL``, ``CMD``, ``ENTRYPOINT`` and ``EXPOSE`` have no
effect on an episode and are ignored; anything else is an error naming the Dockerfile line. The
sandbox root is read-only, so Harbor's absolute ``/tests``, ``/logs`` and ``/solution`` paths in
the ``.sh`` scripts are rewritten to ``/tmp/tests``, ``/tmp/logs`` and ``/tmp/solution``.
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

from pivotrl_core import InputError, SandboxSpec

from .task import Task

__all__ = ["OFFLINE_BASE", "dockerfile_state", "harbor_paths", "load_harbor_task"]

OFFLINE_BASE = SandboxSpec().image
IGNORED = ("LABEL", "CMD", "ENTRYPOINT", "EXPOSE", "COMMENT")
REWARD_FILE = "/tmp/logs/verifier/reward.txt"
_HARBOR_PATH = re.compile(r"(?<![\w.$/~-])/(tests|logs|solution)(?=[/\s\"';)]|$)", re.MULTILINE)


def harbor_paths(script: str) -> str:
    """``script`` with Harbor's absolute ``/tests``, ``/logs``, ``/solution`` moved under ``/tmp``."""
    return _HARBOR_PATH.sub(r"/tmp/\1", script)


def _read_tree(root: Path) -> dict[str, bytes]:
    if not root.is_dir():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _in_workdir(dest: str, workdir: str, path: Path, line: int) -> str:
    target = dest if dest.startswith("/") else f"{workdir.rstrip('/')}/{dest}"
    parts = [p for p in target.split("/") if p not in ("", ".")]
    root = [p for p in workdir.split("/") if p]
    if ".." in parts or parts[: len(root)] != root:
        raise InputError(
            f"COPY to {dest}: only the work dir {workdir} is writable in the offline sandbox",
            path=path,
            line=line,
        )
    return "/".join(parts[len(root) :])


def _copy(args: str, context: dict[str, bytes], workdir: str, path: Path, line: int) -> dict[str, bytes]:
    words = json.loads(args) if args.lstrip().startswith("[") else shlex.split(args)
    if any(w.startswith("--") for w in words) or len(words) < 2:
        raise InputError(f"unsupported COPY form {args!r}: use COPY SRC... DEST", path=path, line=line)
    *sources, dest = words
    base = _in_workdir(dest, workdir, path, line)
    out: dict[str, bytes] = {}
    for src in sources:
        src = src.strip("/").removeprefix("./")
        if any(ch in src for ch in "*?["):  # a pattern: the matching files go into DEST by name
            found = {
                k: v
                for k, v in context.items()
                if k.count("/") == src.count("/") and fnmatch.fnmatchcase(k, src)
            }
            out.update({"/".join(p for p in (base, Path(k).name) if p): v for k, v in found.items()})
            if not found:
                raise InputError(f"COPY source {src!r} matches nothing in environment/", path=path, line=line)
            continue
        found = {k: v for k, v in context.items() if src in (".", "") or k == src or k.startswith(src + "/")}
        if not found:
            raise InputError(
                f"COPY source {src!r} is not in the build context (environment/)", path=path, line=line
            )
        for name, data in found.items():
            if src in (".", ""):
                rel = name
            elif name == src:
                rel = Path(src).name if (dest.endswith("/") or len(sources) > 1) else ""
            else:
                rel = name[len(src) + 1 :]
            out["/".join(p for p in (base, rel) if p) or Path(src).name] = data
    return out


def _env(args: str) -> list[str]:
    words = shlex.split(args)
    pairs = [w.split("=", 1) for w in words] if "=" in words[0] else [[words[0], " ".join(words[1:])]]
    quote = str.maketrans({"\\": "\\\\", '"': '\\"', "`": "\\`"})  # $VAR still expands, as in Docker
    return [f'export {k}="{v.translate(quote)}"' for k, v in pairs]


def dockerfile_state(env_dir: Path) -> tuple[str, dict[str, bytes], list[str]]:
    """The work dir, files and setup commands that ``environment/Dockerfile`` describes (see above)."""
    path = env_dir / "Dockerfile"
    if not path.is_file():
        raise InputError("a Harbor task needs environment/Dockerfile", path=path)
    context = {k: v for k, v in _read_tree(env_dir).items() if k not in ("Dockerfile", ".dockerignore")}
    parser = DockerfileParser(fileobj=io.BytesIO(path.read_bytes()))
    steps = [s for s in parser.structure if s["instruction"] != "COMMENT"]
    if not steps or steps[0]["instruction"] != "FROM" or steps[0]["value"].split()[0] != OFFLINE_BASE:
        first = steps[0]["content"].strip() if steps else "(empty)"
        raise InputError(
            f"{first!r} cannot be built offline (no registry is reachable); "
            f"base the task on FROM {OFFLINE_BASE}",
            path=path,
            line=steps[0]["startline"] + 1 if steps else None,
        )
    workdir, files, setup, env = "/work", {}, [], []
    for step in steps[1:]:
        kind, value, line = step["instruction"], step["value"], step["startline"] + 1
        if kind == "WORKDIR":
            workdir = value if value.startswith("/") else f"{workdir.rstrip('/')}/{value}"
        elif kind == "COPY":
            files.update(_copy(value, context, workdir, path, line))
        elif kind == "ENV":
            env += _env(value)
        elif kind == "RUN":
            command = shlex.join(json.loads(value)) if value.lstrip().startswith("[") else value
            setup.append("\n".join([*env, command]))
        elif kind not in IGNORED:
            raise InputError(
                f"{kind} is not supported offline (FROM, WORKDIR, COPY, ENV, RUN)", path=path, line=line
            )
    if env:
        exports = "".join(f"{e}\n" for e in env)
        setup.append(
            f"mkdir -p /tmp/.pivotrl-shell && printf %s {shlex.quote(exports)} >> /tmp/.pivotrl-shell/env"
        )
    return workdir, files, setup


def _toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError("a Harbor task needs task.toml", path=path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"invalid TOML: {e}", path=path) from None


def _seconds(config: dict[str, Any], table: str, path: Path, default: float = 600.0) -> float:
    section = config.get(table, {})
    if not isinstance(section, dict):
        raise InputError("expected a table", path=path, field=table)
    value = section.get("timeout_sec", default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InputError(
            f"expected a positive number of seconds, got {value!r}", path=path, field=f"{table}.timeout_sec"
        )
    return float(value)


def _memory(config: dict[str, Any], path: Path) -> int | None:
    env = config.get("environment", {})
    value = env.get("memory_mb") if isinstance(env, dict) else None
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise InputError(
            f"expected a positive integer, got {value!r}", path=path, field="environment.memory_mb"
        )
    return value


def load_harbor_task(folder: str | Path) -> Task:
    """Read and check a Harbor task folder; bad content raises InputError naming the file and field."""
    folder = Path(folder)
    config = _toml(folder / "task.toml")
    instruction_path = folder / "instruction.md"
    instruction = instruction_path.read_text(encoding="utf-8").strip() if instruction_path.is_file() else ""
    if not instruction:
        raise InputError("a Harbor task needs a non-empty instruction.md", path=instruction_path)
    test_sh = folder / "tests" / "test.sh"
    if not test_sh.is_file():
        raise InputError("a Harbor task needs tests/test.sh", path=test_sh)
    workdir, files, setup = dockerfile_state(folder / "environment")
    tests = {
        k: (harbor_paths(v.decode()).encode() if k.endswith(".sh") else v)
        for k, v in _read_tree(folder / "tests").items()
    }
    solve = folder / "solution" / "solve.sh"
    meta = config.get("metadata", {})
    return Task(
        name=folder.name,
        path=folder,
        instruction=instruction,
        agent_timeout_s=_seconds(config, "agent", folder / "task.toml"),
        test_timeout_s=_seconds(config, "verifier", folder / "task.toml"),
        environment=files,
        setup="\n".join(["set -e", *setup]) if setup else None,
        solution=harbor_paths(solve.read_text(encoding="utf-8")) if solve.is_file() else None,
        tests=tests,
        meta=meta if isinstance(meta, dict) else {},
        workdir=workdir,
        memory_mb=_memory(config, folder / "task.toml"),
        test_script="test.sh",
        reward_file=REWARD_FILE,
        format="harbor",
    )
