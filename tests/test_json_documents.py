"""Whole JSON documents (``.json``, ``.traj``) are read as rows, not as JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pivotrl_core import InputError
from pivotrl_core.formats.detect import read_trajectories

CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def test_an_object_document_is_one_row_and_an_array_is_one_row_per_object(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps(CHAT, indent=2))  # multi-line: not JSON Lines
    many = tmp_path / "many.json"
    many.write_text(json.dumps([CHAT, CHAT, CHAT], indent=2))
    assert len(list(read_trajectories(one))) == 1
    assert len(list(read_trajectories(many))) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"messages": [', "invalid JSON"),
        ("[1, 2]", "an object or an array of objects"),
        ('"just a string"', "an object or an array of objects"),
    ],
)
def test_a_bad_document_names_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.traj"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        list(read_trajectories(path))
    assert "bad.traj" in str(info.value)
