"""Terminal-Bench 2 tasks in Harbor's format: loading, offline Dockerfiles, rewards, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pivotrl_terminal.episode import OracleAgent, run_episode
from pivotrl_terminal.harbor import dockerfile_state, harbor_paths, load_harbor_task
from pivotrl_terminal.loading import load_tasks

from pivotrl_core import InputError

REPO = Path(__file__).resolve().parents[3]
TEST_SH = (
    "#!/bin/bash\nif python3 /tests/check.py; then echo 1 > /logs/verifier/reward.txt; "
    "else echo 0 > /logs/verifier/reward.txt; fi\n"
)


def _task(root: Path, dockerfile: str, toml: str = 'version = "1.0"\n', **files: str) -> Path:
    """A Harbor task folder; ``files`` maps relative paths (``__`` for ``/``) to contents."""
    defaults = {
        "instruction.md": "Write greeting.txt.\n",
        "environment/Dockerfile": dockerfile,
        "tests/test.sh": TEST_SH,
        "tests/check.py": "import pathlib; assert pathlib.Path('greeting.txt').read_text().strip() == 'hi'\n",
        "solution/solve.sh": 'echo "$GREETING" > greeting.txt\n',
    }
    root.mkdir(parents=True)
    (root / "task.toml").write_text(toml)
    for rel, text in {**defaults, **{k.replace("__", "/"): v for k, v in files.items()}}.items():
        if text is not None:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
    return root


OK_DOCKERFILE = "\n".join(
    [
        "FROM pivotrl/sandbox-py",
        "WORKDIR /work",
        "ENV GREETING=hi",
        "COPY data/ ./data/",
        "RUN cp data/seed.txt seed.txt",
        "",
    ]
)


def test_a_harbor_task_loads_with_its_dockerfile_applied(tmp_path: Path) -> None:
    folder = _task(
        tmp_path / "greet",
        OK_DOCKERFILE,
        "[agent]\ntimeout_sec = 30\n[verifier]\ntimeout_sec = 9\n",
        **{"environment/data/seed.txt": "s\n"},
    )
    task = load_harbor_task(folder)
    assert (task.format, task.agent_timeout_s, task.test_timeout_s, task.workdir) == (
        "harbor",
        30.0,
        9.0,
        "/work",
    )
    assert task.environment == {"data/seed.txt": b"s\n"} and task.instruction == "Write greeting.txt."
    assert (
        task.setup is not None and 'export GREETING="hi"' in task.setup and "cp data/seed.txt" in task.setup
    )
    assert "/tmp/tests/check.py" in task.tests["test.sh"].decode() and task.reward_file


def test_the_oracle_passes_and_a_do_nothing_agent_fails_a_harbor_task(
    tmp_path: Path, any_backend: str
) -> None:
    folder = _task(tmp_path / "greet", OK_DOCKERFILE, **{"environment/data/seed.txt": "s\n"})
    task = load_tasks(folder)[0]
    result = run_episode(task, OracleAgent(task), backend=any_backend)
    assert result.passed and "[reward 1]" in result.test_output, result.test_output
    idle = run_episode(
        task,
        lambda _: '{"analysis": "", "plan": "", "commands": [], "task_complete": true}',
        backend=any_backend,
    )
    assert not idle.passed and idle.error is None and "[reward 0]" in idle.test_output


def test_no_reward_written_is_a_fail_that_says_so(tmp_path: Path, any_backend: str) -> None:
    folder = _task(tmp_path / "t", "FROM pivotrl/sandbox-py\n", **{"tests/test.sh": "true\n"})
    task = load_harbor_task(folder)
    result = run_episode(task, OracleAgent(task), backend=any_backend)
    assert not result.passed and "wrote no reward" in result.test_output


@pytest.mark.docker
def test_workdir_app_as_in_terminal_bench_2(tmp_path: Path, docker_ready: None) -> None:
    dockerfile = "FROM pivotrl/sandbox-py\nWORKDIR /app\nENV GREETING=hi\n"
    task = load_harbor_task(_task(tmp_path / "t", dockerfile))
    assert task.workdir == "/app"
    result = run_episode(task, OracleAgent(task), backend="docker")
    assert result.passed, result.test_output


@pytest.mark.parametrize(
    ("dockerfile", "toml", "files", "match"),
    [
        (
            "FROM ubuntu:24.04\nWORKDIR /app\n",
            None,
            {},
            r"Dockerfile:1: 'FROM ubuntu:24.04' cannot be built offline",
        ),
        ("", None, {}, r"Dockerfile: '\(empty\)' cannot be built offline"),
        ("FROM pivotrl/sandbox-py\nUSER root\n", None, {}, r"Dockerfile:2: USER is not supported offline"),
        (
            "FROM pivotrl/sandbox-py\nCOPY x /etc/x\n",
            None,
            {},
            r"Dockerfile:2: COPY to /etc/x: only the work dir",
        ),
        ("FROM pivotrl/sandbox-py\nCOPY nope .\n", None, {}, r"Dockerfile:2: COPY source 'nope' is not in"),
        ("FROM pivotrl/sandbox-py\nCOPY --chown=1 a .\n", None, {}, r"Dockerfile:2: unsupported COPY form"),
        (OK_DOCKERFILE, "[agent\n", {}, r"task.toml: invalid TOML"),
        (OK_DOCKERFILE, "[agent]\ntimeout_sec = -1\n", {}, r"task.toml: field 'agent.timeout_sec'"),
        (OK_DOCKERFILE, "[environment]\nmemory_mb = 'lots'\n", {}, r"field 'environment.memory_mb'"),
        (OK_DOCKERFILE, None, {"instruction.md": "  \n"}, r"instruction.md: a Harbor task needs a non-empty"),
        (OK_DOCKERFILE, None, {"tests/test.sh": None}, r"test.sh: a Harbor task needs tests/test.sh"),
    ],
)
def test_bad_harbor_tasks_name_the_file_line_and_field(
    tmp_path: Path, dockerfile: str, toml: str | None, files: dict[str, str | None], match: str
) -> None:
    folder = _task(
        tmp_path / "t", dockerfile, toml or 'version = "1.0"\n', **{"environment/data/seed.txt": "s\n"}
    )
    for rel, text in files.items():
        (folder / rel).unlink()
        if text is not None:
            (folder / rel).write_text(text)
    with pytest.raises(InputError, match=match):
        load_harbor_task(folder)


def test_an_image_that_cannot_be_built_offline_exits_2(tmp_path: Path) -> None:
    _task(tmp_path / "tasks" / "ubuntu", "FROM ubuntu:24.04\n")
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "pivotrl"),
            "terminal",
            "bench",
            "--oracle",
            "--tasks",
            str(tmp_path / "tasks"),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Dockerfile:1" in proc.stderr and "cannot be built offline" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("script", "rewritten"),
    [
        ("pytest /tests/test_outputs.py", "pytest /tmp/tests/test_outputs.py"),
        ("echo 1 > /logs/verifier/reward.txt", "echo 1 > /tmp/logs/verifier/reward.txt"),
        ('bash "/solution/solve.sh"', 'bash "/tmp/solution/solve.sh"'),
        ("cd /tests\n", "cd /tmp/tests\n"),
        (
            "ls /app/tests /var/logs $HOME/tests ~/tests",
            "ls /app/tests /var/logs $HOME/tests ~/tests",
        ),  # not Harbor's
    ],
)
def test_harbor_paths(script: str, rewritten: str) -> None:
    assert harbor_paths(script) == rewritten


def test_dockerfile_copy_forms_env_and_run(tmp_path: Path) -> None:
    env = tmp_path / "environment"
    for rel in ("a.py", "b.py", "notes.txt", "src/pkg/m.py"):
        (env / rel).parent.mkdir(parents=True, exist_ok=True)
        (env / rel).write_text(rel)
    (env / "Dockerfile").write_text(
        "FROM pivotrl/sandbox-py\nWORKDIR /work\nCOPY *.py scripts/\nCOPY src ./lib\nCOPY notes.txt .\n"
        'ENV PATH=/work/bin:$PATH MODE="a b"\nRUN ["python3", "-c", "print(1)"]\nLABEL x=y\n'
    )
    workdir, files, setup = dockerfile_state(env)
    assert workdir == "/work"
    assert sorted(files) == ["lib/pkg/m.py", "notes.txt", "scripts/a.py", "scripts/b.py"]
    assert setup[0].splitlines() == [
        'export PATH="/work/bin:$PATH"',
        'export MODE="a b"',
        "python3 -c 'print(1)'",
    ]
    assert "/tmp/.pivotrl-shell/env" in setup[-1]
