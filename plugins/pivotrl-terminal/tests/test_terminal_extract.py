"""Terminal trajectories -> candidates, with a sandbox state that rebuilds each turn exactly."""

from __future__ import annotations

import json
from pathlib import Path

from pivotrl_terminal.episode import run_episode
from pivotrl_terminal.extract import extract_terminal
from pivotrl_terminal.loading import load_tasks
from pivotrl_terminal.verifier import terminus_commands

from pivotrl_core import ExtractOptions, Message, Trajectory, get_registry, run_verifier
from pivotrl_core.formats.nemo_gym import parse_row

OPTS = ExtractOptions(domain="terminal")


def _answer(*keys: str, done: bool = False) -> str:
    cmds = [{"keystrokes": k, "duration": 0.1} for k in keys]
    return json.dumps({"analysis": "", "plan": "", "commands": cmds, "task_complete": done})


def test_only_well_formed_terminus_turns_become_candidates() -> None:
    traj = Trajectory(
        id="t",
        messages=(
            Message("user", "go"),
            Message("assistant", "let me think"),
            Message("user", "json please"),
            Message("assistant", _answer("ls\n")),
            Message("user", "out"),
            Message("assistant", '{"analysis": 1}'),
        ),
    )
    cands = list(extract_terminal(traj, OPTS))
    assert [c.turn_index for c in cands] == [3]
    assert cands[0].metadata == {"harness": "terminus_2"} and cands[0].id == "t:3"
    assert [m.content for m in cands[0].messages] == ["go", "let me think", "json please"]


def test_nemo_gym_rows_give_one_candidate_each(terminus_dir: Path) -> None:
    rows = [json.loads(x) for x in (terminus_dir / "example.jsonl").read_text().splitlines() if x.strip()]
    for i, row in enumerate(rows):
        cands = list(extract_terminal(parse_row(row, i), OPTS))
        assert len(cands) == 1 and cands[0].expected.content == row["expected_answer"]
        assert cands[0].metadata["harness"] == row["metadata"]["harness"]


def test_episode_turns_replay_into_the_exact_state(any_backend: str) -> None:
    """An episode's third turn runs from the state its first two turns left (cwd and variables)."""
    task = load_tasks(names=["count-errors"])[0]
    answers = [
        _answer("cd logs\n", "export PATTERN=ERROR\n"),
        _answer("ls\n"),
        _answer('grep -c "$PATTERN" app.log > ../error_count.txt\n', done=True),
    ]
    answers.append(_answer(done=True))  # Terminus-2 asks to confirm the completion
    result = run_episode(task, lambda messages: answers.pop(0), backend=any_backend)
    assert result.passed
    cands = list(extract_terminal(result.trajectory, OPTS))
    assert [c.turn_index for c in cands] == [1, 3, 5, 7]
    third = cands[2].metadata["sandbox"]
    assert "logs/app.log" in third["files"] and len(third["setup"]) == 2  # the two earlier turns
    assert cands[0].metadata["sandbox"]["setup"] == []

    v = get_registry().verifier("sandbox_exec", backend=any_backend, commands=terminus_commands, timeout_s=10)
    same = run_verifier(
        v,
        cands[2],
        Message("assistant", _answer("grep ERROR app.log | wc -l > ../error_count.txt\n", done=True)),
    )
    assert same.passed, same  # only true when cwd=logs and $PATTERN were rebuilt
    other = run_verifier(
        v, cands[2], Message("assistant", _answer("grep -c WARN app.log > ../error_count.txt\n", done=True))
    )
    assert not other.passed and not other.errored and other.details["differences"] == ["files"]
