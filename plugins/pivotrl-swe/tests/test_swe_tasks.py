"""Tasks, the gold edit, the expert's turns and bad instance rows (no sandbox needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pivotrl_swe.agents import ExpertAgent, gold_edit
from pivotrl_swe.tasks import load_tasks, split_of, swebench_image, task_from_row

from pivotrl_core import InputError


def test_gold_edit_is_a_unique_minimal_span(pack):
    for task in load_tasks(pack / "instances.jsonl"):
        old, new = gold_edit(task.files["main.py"], task.gold_files["main.py"])
        assert task.files["main.py"].count(old) == 1
        assert task.files["main.py"].replace(old, new, 1) == task.gold_files["main.py"]


def test_expert_agent_on_the_shared_demonstration_task(pack):
    (task,) = load_tasks(pack / "instances.jsonl", ids=["Python/0"])
    edit = ExpertAgent(task).turns[2].tool_calls[0].arguments
    assert (
        edit["old_str"].strip() == "distance = elem - elem2"
        and edit["new_str"].strip() == "distance = abs(elem - elem2)"
    )


def test_splits_are_fixed_and_disjoint(pack):
    ids = [t.instance_id for t in load_tasks(pack / "instances.jsonl")]
    counts = {s: sum(split_of(i) == s for i in ids) for s in ("train", "warmup", "validation", "heldout")}
    assert counts == {"train": 94, "warmup": 25, "validation": 16, "heldout": 29}


def test_bad_instance_rows_name_file_line_and_field(tmp_path):
    with pytest.raises(InputError, match="buggy_files"):
        task_from_row({"instance_id": "x", "problem_statement": "p", "buggy_files": {"/etc/passwd": ""}})
    with pytest.raises(InputError, match="image"):
        task_from_row({"instance_id": "x", "problem_statement": "p"})
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"instance_id": "a", "problem_statement": "p", "buggy_files": {"m.py": ""}})
        + "\n"
        + json.dumps({"instance_id": "b", "problem_statement": 3})
        + "\n"
    )
    res = subprocess.run(
        [str(Path(sys.executable).with_name("pivotrl")), "swe", "bench", "--instances", str(bad)],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2
    assert "bad.jsonl" in res.stderr and ":2" in res.stderr and "problem_statement" in res.stderr


def test_swebench_schema_rows_become_image_tasks():
    row = {
        "instance_id": "marshmallow-code__marshmallow-1867", "repo": "marshmallow-code/marshmallow",
        "base_commit": "bfd2593d4b416122e30cdefe0c72d322ef471611", "problem_statement": "TimeDelta precision",
        "patch": "diff --git a/x b/x", "test_patch": "diff --git a/t b/t",
        "FAIL_TO_PASS": '["tests/test_fields.py::test_timedelta_precision"]', "PASS_TO_PASS": "[]",
        "image_name": "swebench/sweb.eval.x86_64.marshmallow-code_1776_marshmallow-1867:latest",
    }  # fmt: skip
    task = task_from_row(row)
    assert task.swebench_style and task.repo_dir == "/testbed"
    assert (
        task.fail_to_pass == ("tests/test_fields.py::test_timedelta_precision",) and task.pass_to_pass == ()
    )
    assert task.test_command == "python -m pytest -rA" and task.test_patch.startswith("diff")


def test_a_swebench_row_without_an_image_gets_the_harness_image_name():
    row = {
        "instance_id": "astropy__astropy-12907", "repo": "astropy/astropy", "problem_statement": "p",
        "base_commit": "d16bfe05a744909de4b27f5875fe0d4ed41ce607", "patch": "diff --git a/x b/x",
        "test_patch": "diff --git a/t b/t", "FAIL_TO_PASS": '["t.py::test_a"]', "PASS_TO_PASS": "[]",
    }  # fmt: skip
    task = task_from_row(row)
    assert (
        task.image
        == swebench_image("astropy__astropy-12907")
        == "sweb.eval.x86_64.astropy__astropy-12907:latest"
    )
    assert task.swebench_style and task.gold_patch == "diff --git a/x b/x"
    with pytest.raises(InputError, match="image"):
        task_from_row({**row, "image": 3})
