"""The stage engine of ``pivotrl run``: a manifest of stage keys, and skip / resume / re-run.

Every stage writes into the run folder and is recorded in ``manifest.json`` with a *key*: the
hash of the stage's settings, of its external input files, and of the run ids of the stages it
reads from. A stage is **skipped** when its recorded key equals the new one and its outputs are
still there unchanged (hashed: files by content, model folders by file names, sizes and mtimes).
Otherwise it runs -- and every stage after it sees a new upstream run id, so it runs too.

A stage that was interrupted (recorded as ``started`` with the same key) **resumes**: profiling
continues its JSONL, training continues from its latest checkpoint. A stage whose key changed
starts over from an empty output. ``docs/pipeline.md`` describes the run folder.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PivotrlError
from ..jsonl import atomic_output

__all__ = ["Manifest", "PipelineResult", "Stage", "hash_path", "run_stage", "stage_key"]


def hash_path(path: Path) -> str | None:
    """Content hash of a file; for a folder, a hash of its files' names, sizes and mtimes."""
    if path.is_file():
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    if path.is_dir():
        h = hashlib.sha256()
        for p in sorted(path.rglob("*")):
            if p.is_file():
                st = p.stat()
                h.update(f"{p.relative_to(path)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        return "dir:" + h.hexdigest()
    return None


class Manifest:
    """``manifest.json`` of a run folder: one entry per stage (key, status, outputs, cost)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "manifest.json"
        self.data: dict[str, Any] = {"version": 1, "stages": {}}
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:  # written atomically, so only a hand edit gets here
                raise PivotrlError(
                    f"{self.path} is not valid JSON; delete it to re-run every stage"
                ) from None

    def entry(self, name: str) -> dict[str, Any] | None:
        return self.data["stages"].get(name)

    def is_current(self, name: str, key: str, outputs: Sequence[Path]) -> bool:
        e = self.entry(name)
        if not e or e.get("status") != "done" or e.get("key") != key:
            return False
        return all(e["outputs"].get(str(p)) == hash_path(p) and hash_path(p) is not None for p in outputs)

    def start(self, name: str, key: str) -> None:
        old = self.entry(name) or {}
        self.data["stages"][name] = {
            "key": key,
            "status": "started",
            "started": time.time(),
            "result": old.get("result") if old.get("key") == key else None,
        }
        self.save()

    def done(self, stage: Stage, key: str, outputs: Sequence[Path], seconds: float, result: Any) -> None:
        """Record a finished stage (with its equivalent command line, for humans)."""
        self.data["stages"][stage.name] = {
            "key": key,
            "command": stage.command,
            "status": "done",
            "run_id": uuid.uuid4().hex,
            "finished": time.time(),
            "seconds": round(seconds, 2),
            "outputs": {str(p): hash_path(p) for p in outputs},
            "result": result,
        }
        self.save()

    def save(self) -> None:
        with atomic_output(self.path) as fh:
            fh.write(json.dumps(self.data, indent=2, sort_keys=True))


@dataclass
class Stage:
    """One step of the pipeline.

    ``run(resume)`` does the work and may return a small JSON-able result (e.g. the warmed model
    folder) that later stages read from the context; its ``outputs`` entry lists further output
    paths known only after the run. ``after`` names the stages whose outputs
    this one reads; ``inputs`` are external files (hashed by content); ``resumable`` stages
    continue an interrupted run instead of starting over. ``command`` is the equivalent
    ``pivotrl ...`` command line (or domain call), recorded in the manifest for humans only.
    """

    name: str
    run: Callable[[bool], dict[str, Any] | None]
    outputs: list[Path]
    config: dict[str, Any] = field(default_factory=dict)
    inputs: list[Path] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    resumable: bool = False
    description: str = ""
    clean: list[Path] | None = None  # deleted before a fresh (not resumed) run; default: outputs
    command: str = ""


@dataclass
class PipelineResult:
    run_dir: Path
    stages: list[dict[str, Any]]  # name, status (ran/resumed/skipped), seconds, recorded_seconds
    results: dict[str, Any]


def stage_key(stage: Stage, manifest: Manifest) -> str:
    """Hash of the stage's settings, external inputs and upstream run ids."""
    ups = {}
    for up in stage.after:
        e = manifest.entry(up)
        ups[up] = e.get("run_id") if e else None
    doc = {"config": stage.config, "inputs": {str(p): hash_path(p) for p in stage.inputs}, "after": ups}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _clean(outputs: Sequence[Path]) -> None:
    for p in outputs:
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def run_stage(stage: Stage, manifest: Manifest, say: Callable[[str], None]) -> dict[str, Any]:
    """Run one stage unless it is current; return its status row."""
    key = stage_key(stage, manifest)
    prev = manifest.entry(stage.name) or {}
    if manifest.is_current(stage.name, key, stage.outputs):
        say(f"[dim]skip[/dim]   {stage.name:<14} current (ran in {prev.get('seconds', 0):.1f} s)")
        return {
            "name": stage.name,
            "status": "skipped",
            "seconds": 0.0,
            "recorded_seconds": prev.get("seconds"),
        }
    resume = stage.resumable and prev.get("status") == "started" and prev.get("key") == key
    if not resume:
        _clean(stage.outputs if stage.clean is None else stage.clean)
    say(f"[bold]{'resume' if resume else 'run'}[/bold]    {stage.name:<14} {stage.description}")
    manifest.start(stage.name, key)
    t0 = time.perf_counter()
    result = stage.run(resume)
    seconds = time.perf_counter() - t0
    outputs = [
        *stage.outputs,
        *(Path(p) for p in (result or {}).get("outputs", []) if Path(p) not in stage.outputs),
    ]
    missing = [str(p) for p in outputs if not p.exists()]
    if missing:
        raise PivotrlError(f"stage {stage.name} finished without writing {', '.join(missing)}")
    manifest.done(stage, key, outputs, seconds, result)
    say(f"[green]done[/green]   {stage.name:<14} {seconds:.1f} s")
    return {
        "name": stage.name,
        "status": "resumed" if resume else "ran",
        "seconds": round(seconds, 2),
        "recorded_seconds": round(seconds, 2),
    }
