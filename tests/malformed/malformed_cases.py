"""The malformed-input corpus: one :class:`Case` per bad input, over every command.

Each case runs in a fresh folder holding the valid fixture files of :func:`fixture_files` plus the
case's own ``files``; ``args`` are relative to that folder. The expectation is always the same:
exit code 2, ``Error:`` followed by a message matching ``expect`` (which names the file and line,
the field, or the flag), no traceback, and no file created or changed.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field

from pivotrl_core import Candidate, Message, Profile, ToolCall, Trajectory

# a policy that needs no model download and opens no connection until it samples
OPENAI = ["--policy", "openai", "--model", "m", "--policy-option", "base_url=http://127.0.0.1:9/v1"]
PROFILE = ["profile", "cands.jsonl", "-o", "prof.jsonl", *OPENAI]
# a model that does not exist: a case whose input wrongly passes fails fast instead of training
NO_MODEL = ["--set", "model=no-such-model"]
TRAIN = ["train", "pivots.jsonl", "-o", "run", *NO_MODEL]
SFT = ["sft", "traj.jsonl", "-o", "run", *NO_MODEL]
EVAL = ["eval", "--model", "m", "--candidates", "cands.jsonl", "-o", "eval.json"]
VERIFY = ["verify", "cands.jsonl", "--actions", "acts.jsonl", "-o", "verdicts.jsonl"]
CHECK = ["check-verifier", "cands.jsonl"]
SELECT = ["select", "prof.jsonl", "-o", "pivots-out.jsonl"]
EXTRACT = ["extract", "traj.jsonl", "-o", "out.jsonl"]


@dataclass(frozen=True)
class Case:
    id: str
    args: list[str]
    expect: str
    files: dict[str, str | bytes] = field(default_factory=dict)


def _line(row: dict) -> str:
    return json.dumps(row) + "\n"


def _trajectory(i: int) -> dict:
    return Trajectory(
        id=f"t{i}",
        messages=(
            Message("user", f"Where is order W{i}?"),
            Message("assistant", tool_calls=(ToolCall("get_order", {"order_id": f"W{i}"}, id="c1"),)),
            Message("tool", '{"status": "shipped"}', tool_call_id="c1"),
            Message("assistant", "It has shipped."),
        ),
    ).to_dict()


def _candidate(i: int) -> dict:
    t = Trajectory.from_dict(_trajectory(i))
    return Candidate(
        id=f"t{i}:1",
        domain="generic",
        trajectory_id=f"t{i}",
        turn_index=1,
        messages=t.messages[:1],
        expected=t.messages[1],
    ).to_dict()


def _profile(i: int, scores: list) -> dict:
    return Profile(
        candidate_id=f"t{i}:1",
        domain="generic",
        trajectory_id=f"t{i}",
        policy="m",
        k=len(scores),
        scores=scores,
    ).to_dict()


TRAJ = _line(_trajectory(1)) + _line(_trajectory(2))
CANDS = _line(_candidate(1)) + _line(_candidate(2))
PROFS = _line(_profile(1, [0.0, 1.0])) + _line(_profile(2, [1.0, 1.0]))
ACTS = _line({"candidate_id": "t1:1", "text": "hello"}) + _line({"candidate_id": "t2:1", "text": "hi"})


def fixture_files() -> dict[str, str | bytes]:
    """Valid inputs every case may use (a case's ``files`` override them)."""
    return {
        "traj.jsonl": TRAJ,
        "cands.jsonl": CANDS,
        "pivots.jsonl": CANDS,
        "prof.jsonl": PROFS,
        "acts.jsonl": ACTS,
        "ok.toml": "[train]\nlr = 1e-5\n",
    }


def _with(rows: str, bad: str) -> str:
    """``rows`` plus ``bad``; ``NAN``/``INF``: the first row again with a NaN/-Infinity value added."""
    if bad in ("NAN", "INF"):
        first = rows.splitlines()[0].rstrip()
        bad = first[:-1] + (', "x": NaN}' if bad == "NAN" else ', "x": -Infinity}') + "\n"
    return rows + bad


DEEP = '{"id": ' + "[" * 5000 + "]" * 5000 + "}\n"
BAD_ROWS = {  # (content, what the message must name)
    "invalid-json": ('{"id": 1,\n', r":3: invalid JSON"),
    "array-row": ("[1, 2]\n", r":3: each line must be a JSON object"),
    "nan": ("NAN", r":3: non-standard JSON value NaN"),
    "infinity": ("INF", r":3: non-standard JSON value -Infinity"),
    "deep": (DEEP, r":3: .*nested too deeply"),
    "string-row": ('"just text"\n', r":3: each line must be a JSON object"),
}
NOT_UTF8 = b'{"id": "\xff\xfe"}\n'
NOT_GZIP = b'{"a": 1}\n'
TRUNCATED_GZIP = gzip.compress(TRAJ.encode() * 50)[:60]


def _row_cases() -> list[Case]:
    """The same bad rows fed to every command that reads JSONL (file:line named)."""
    targets = {
        "extract": (EXTRACT, "traj.jsonl"),
        "sft": (SFT, "traj.jsonl"),
        "profile": (PROFILE, "cands.jsonl"),
        "select": (SELECT, "prof.jsonl"),
        "train": (TRAIN, "pivots.jsonl"),
        "verify-actions": (VERIFY, "acts.jsonl"),
        "verify-cands": (VERIFY, "cands.jsonl"),
        "check-verifier": ([*CHECK, "--verifier", "exact"], "cands.jsonl"),
        "export": (["export", "cands.jsonl", "--format", "openai", "-o", "x.jsonl"], "cands.jsonl"),
    }
    base = fixture_files()
    out = []
    for cmd, (args, name) in targets.items():
        for kind, (bad, where) in BAD_ROWS.items():
            out.append(
                Case(f"{cmd}-{kind}", args, re_escape_name(name) + where, {name: _with(base[name], bad)})
            )
        out.append(
            Case(f"{cmd}-not-utf8", args, re_escape_name(name), {name: base[name].encode() + NOT_UTF8})
        )
    return out


def re_escape_name(name: str) -> str:
    return name.replace(".", r"\.")


def _gzip_cases() -> list[Case]:
    return [
        Case(
            "extract-gz-not-gzip",
            ["extract", "t.jsonl.gz", "-o", "o.jsonl"],
            r"t\.jsonl\.gz.*gzip",
            {"t.jsonl.gz": NOT_GZIP},
        ),
        Case(
            "extract-gz-truncated",
            ["extract", "t.jsonl.gz", "-o", "o.jsonl"],
            r"t\.jsonl\.gz",
            {"t.jsonl.gz": TRUNCATED_GZIP},
        ),
        Case(
            "select-gz-not-gzip",
            ["select", "p.jsonl.gz", "-o", "o.jsonl"],
            r"p\.jsonl\.gz.*gzip",
            {"p.jsonl.gz": NOT_GZIP},
        ),
        Case(
            "train-gz-not-gzip",
            ["train", "p.jsonl.gz", "-o", "run"],
            r"p\.jsonl\.gz.*gzip",
            {"p.jsonl.gz": NOT_GZIP},
        ),
    ]


def _field_cases() -> list[Case]:
    """Rows that are JSON objects but wrong in one field (the field is named)."""
    c = _candidate(1)
    bad_role = {**c, "expected": {"role": "robot", "content": "x"}}
    no_expected = {k: v for k, v in c.items() if k != "expected"}
    bad_msgs = {**c, "messages": "hello"}
    t = _trajectory(1)
    t_bad_role = {**t, "messages": [{"role": "wizard", "content": "hi"}]}
    return [
        Case(
            "profile-bad-role", PROFILE, r"cands\.jsonl:1.*expected\.role", {"cands.jsonl": _line(bad_role)}
        ),
        Case(
            "profile-no-expected", PROFILE, r"cands\.jsonl:1.*expected", {"cands.jsonl": _line(no_expected)}
        ),
        Case(
            "train-messages-not-list", TRAIN, r"pivots\.jsonl:1.*messages", {"pivots.jsonl": _line(bad_msgs)}
        ),
        Case(
            "train-duplicate-ids",
            TRAIN,
            r"pivots\.jsonl:3: field 'id'.*duplicate",
            {"pivots.jsonl": CANDS + _line(_candidate(1))},
        ),
        Case(
            "select-nan-score",
            SELECT,
            r"prof\.jsonl:1",
            {
                "prof.jsonl": '{"candidate_id": "a", "domain": "g", "trajectory_id": "t", '
                '"policy": "m", "k": 1, "scores": [NaN]}\n'
            },
        ),
        Case(
            "select-score-out-of-range",
            SELECT,
            r"prof\.jsonl:1.*scores",
            {"prof.jsonl": _line({**_profile(1, [0.0]), "scores": [7.0]})},
        ),
        Case(
            "select-scores-not-list",
            SELECT,
            r"prof\.jsonl:1.*scores",
            {"prof.jsonl": _line({**_profile(1, [0.0]), "scores": "high"})},
        ),
        Case(
            "select-no-candidate-id",
            SELECT,
            r"prof\.jsonl:1.*candidate_id",
            {"prof.jsonl": _line({k: v for k, v in _profile(1, [0.0]).items() if k != "candidate_id"})},
        ),
        Case("extract-bad-role", EXTRACT, r"traj\.jsonl:1", {"traj.jsonl": _line(t_bad_role)}),
        Case("sft-bad-role", SFT, r"traj\.jsonl:1", {"traj.jsonl": _line(t_bad_role)}),
        Case(
            "verify-action-unknown-candidate",
            VERIFY,
            r"acts\.jsonl:1.*candidate_id",
            {"acts.jsonl": _line({"candidate_id": "nope", "text": "x"})},
        ),
        Case(
            "verify-action-no-candidate-id",
            VERIFY,
            r"acts\.jsonl:1.*candidate_id",
            {"acts.jsonl": _line({"text": "x"})},
        ),
    ]


def _io_cases() -> list[Case]:
    """Outputs over inputs, missing inputs, unwritable outputs."""
    return [
        Case(
            "extract-output-is-input",
            ["extract", "traj.jsonl", "-o", "traj.jsonl"],
            r"-o: traj\.jsonl is also an input",
        ),
        Case(
            "extract-output-is-input-path",
            ["extract", "traj.jsonl", "-o", "./sub/../traj.jsonl"],
            r"is also an input",
            {"sub/keep": ""},
        ),
        Case(
            "extract-input-twice",
            ["extract", "traj.jsonl", "traj.jsonl", "-o", "o.jsonl"],
            r"traj\.jsonl is given twice",
        ),
        Case("extract-missing-input", ["extract", "nope.jsonl", "-o", "o.jsonl"], r"nope\.jsonl"),
        Case(
            "extract-output-parent-is-file",
            ["extract", "traj.jsonl", "-o", "blocker/o.jsonl"],
            r"-o: cannot write blocker/o\.jsonl",
            {"blocker": "x"},
        ),
        Case("extract-output-is-folder", ["extract", "traj.jsonl", "-o", "adir"], r"adir", {"adir/keep": ""}),
        Case(
            "export-output-is-input",
            ["export", "cands.jsonl", "--format", "openai", "-o", "cands.jsonl"],
            r"is also an input",
        ),
        Case(
            "profile-output-is-input",
            ["profile", "cands.jsonl", "-o", "cands.jsonl", *OPENAI],
            r"-o: cands\.jsonl is also an input",
        ),
        Case("profile-missing-input", ["profile", "nope.jsonl", "-o", "p.jsonl", *OPENAI], r"nope\.jsonl"),
        Case("select-output-is-input", ["select", "prof.jsonl", "-o", "prof.jsonl"], r"is also an input"),
        Case(
            "select-val-output-is-input",
            ["select", "p.val.jsonl", "-o", "p.jsonl"],
            r"is also an input",
            {"p.val.jsonl": PROFS},
        ),
        Case("select-missing-candidates", [*SELECT, "--candidates", "nope.jsonl"], r"nope\.jsonl"),
        Case(
            "verify-output-is-actions",
            ["verify", "cands.jsonl", "--actions", "acts.jsonl", "-o", "acts.jsonl"],
            r"is also an input",
        ),
        Case(
            "eval-output-is-candidates",
            ["eval", "--model", "m", "--candidates", "cands.jsonl", "-o", "cands.jsonl"],
            r"is also an input",
        ),
        Case(
            "eval-missing-candidates",
            ["eval", "--model", "m", "--candidates", "nope.jsonl", "-o", "e.json"],
            r"nope\.jsonl",
        ),
        Case(
            "eval-output-parent-is-file",
            ["eval", "--model", "m", "--candidates", "cands.jsonl", "-o", "blocker/e.json"],
            r"cannot write blocker/e\.json",
            {"blocker": "x"},
        ),
        Case("train-missing-pivots", ["train", "nope.jsonl", "-o", "run"], r"nope\.jsonl"),
        Case("train-output-is-file", ["train", "pivots.jsonl", "-o", "afile"], r"afile", {"afile": "x"}),
        Case("train-resume-nothing", [*TRAIN, "--resume"], r"--resume: run holds no run to resume"),
        Case("sft-missing-input", ["sft", "nope.jsonl", "-o", "run"], r"nope\.jsonl"),
        Case(
            "sft-input-twice", ["sft", "traj.jsonl", "traj.jsonl", "-o", "run"], r"traj\.jsonl is given twice"
        ),
    ]


def _flag_cases() -> list[Case]:
    """Every numeric and named option out of range: the flag is named, before any work."""
    flags = [
        ("profile-k-0", [*PROFILE, "--k", "0"], "--k"),
        ("profile-k-neg", [*PROFILE, "--k", "-3"], "--k"),
        ("profile-temp-0", [*PROFILE, "--temperature", "0"], "--temperature"),
        ("profile-temp-neg", [*PROFILE, "--temperature", "-1"], "--temperature"),
        ("profile-temp-nan", [*PROFILE, "--temperature", "nan"], "--temperature"),
        ("profile-temp-inf", [*PROFILE, "--temperature", "inf"], "--temperature"),
        ("profile-top-p-0", [*PROFILE, "--top-p", "0"], "--top-p"),
        ("profile-top-p-big", [*PROFILE, "--top-p", "1.5"], "--top-p"),
        ("profile-max-new-0", [*PROFILE, "--max-new-tokens", "0"], "--max-new-tokens"),
        ("profile-limit-neg", [*PROFILE, "--limit", "-1"], "--limit"),
        ("profile-batch-0", [*PROFILE, "--batch-size", "0"], "--batch-size"),
        ("profile-max-mean", [*PROFILE, "--max-mean", "2"], "--max-mean"),
        ("profile-min-chunk-0", [*PROFILE, "--early-stop-min-chunk", "0"], "--early-stop-min-chunk"),
        ("profile-max-prompt-0", [*PROFILE, "--max-prompt-tokens", "0"], "--max-prompt-tokens"),
        ("profile-device-cuda", [*PROFILE, "--device", "cuda"], "--device: cuda asked for"),
        ("profile-device-tpu", [*PROFILE, "--device", "tpu"], "--device"),
        ("profile-dtype", [*PROFILE, "--dtype", "float8"], "--dtype"),
        (
            "profile-unknown-policy",
            ["profile", "cands.jsonl", "-o", "p.jsonl", "--policy", "nosuch", "--model", "m"],
            "unknown policy 'nosuch'",
        ),
        ("profile-unknown-verifier", [*PROFILE, "--verifier", "nosuch"], "unknown verifier 'nosuch'"),
        ("profile-unknown-domain", [*PROFILE, "--domain", "nosuch"], "unknown domain 'nosuch'"),
        (
            "profile-policy-option",
            [*PROFILE, "--policy-option", "novalue"],
            "--policy-option: 'novalue' must look like KEY=VALUE",
        ),
        (
            "profile-verifier-option",
            [*PROFILE, "--verifier", "exact", "--verifier-option", "x"],
            "--verifier-option",
        ),
        ("select-max-mean", [*SELECT, "--max-mean", "1.5"], "--max-mean"),
        ("select-val-fraction", [*SELECT, "--val-fraction", "-0.1"], "--val-fraction"),
        ("select-min-std", [*SELECT, "--min-std", "-1"], "--min-std"),
        ("select-min-scored", [*SELECT, "--min-scored", "2"], "--min-scored"),
        ("eval-limit-neg", [*EVAL, "--limit", "-1"], "--limit"),
        ("eval-n-samples-0", [*EVAL, "--n-samples", "0"], "--n-samples"),
        ("eval-max-new-0", [*EVAL, "--max-new-tokens", "0"], "--max-new-tokens"),
        ("eval-temp-neg", [*EVAL, "--temperature", "-1"], "--temperature"),
        ("eval-batch-0", [*EVAL, "--batch-size", "0"], "--batch-size"),
        ("eval-ood-limit-neg", [*EVAL, "--ood-limit", "-2"], "--ood-limit"),
        ("eval-seeds", [*EVAL, "--seeds", "a,b"], "--seeds"),
        ("eval-benchmark-option", [*EVAL, "--benchmark-option", "novalue"], "--benchmark-option"),
        ("verify-batch-0", [*VERIFY, "--verifier", "exact", "--batch-size", "0"], "--batch-size"),
        ("verify-option", [*VERIFY, "--verifier", "exact", "--option", "novalue"], "--option"),
        ("verify-unknown-verifier", [*VERIFY, "--verifier", "nosuch"], "unknown verifier 'nosuch'"),
        (
            "verify-two-choices",
            [*VERIFY, "--verifier", "exact", "--domain", "generic"],
            "at most one of --verifier",
        ),
        ("verify-missing-config", [*VERIFY, "--config", "nope.toml"], r"nope\.toml"),
        ("check-repeats-0", [*CHECK, "--verifier", "exact", "--repeats", "0"], "--repeats"),
        ("check-limit-neg", [*CHECK, "--verifier", "exact", "--limit", "-1"], "--limit"),
        ("check-unknown-verifier", [*CHECK, "--verifier", "nosuch"], "unknown verifier"),
        ("serve-port", ["serve", "--model", "m", "--port", "70000"], "--port"),
        ("serve-device", ["serve", "--model", "m", "--device", "cuda:3"], "--device: cuda:3 asked for"),
        ("serve-dtype", ["serve", "--model", "m", "--dtype", "int4"], "--dtype"),
        ("extract-unknown-format", [*EXTRACT, "--format", "nosuch"], "unknown format 'nosuch'"),
        ("extract-unknown-domain", [*EXTRACT, "--domain", "nosuch"], "unknown domain 'nosuch'"),
        ("extract-reasoning", [*EXTRACT, "--reasoning", "maybe"], "--reasoning"),
        (
            "export-unknown-format",
            ["export", "cands.jsonl", "--format", "nosuch", "-o", "x.jsonl"],
            "unknown format",
        ),
        ("help-unknown-topic", ["help", "nosuch"], "no help topic 'nosuch'"),
    ]
    return [Case(i, a, e) for i, a, e in flags]


def _config_cases() -> list[Case]:
    """Trainer config values and files: the key (and the file, or --set) is named."""
    sets = [
        ("lr=inf", r"\[lr\] --set: lr = inf must be a finite number"),
        ("lr=nan", r"lr = nan must be a finite number"),
        ("lr=-1", r"lr = -1.0 must be > 0"),
        ("temperature=0", r"temperature = 0.0 must be > 0"),
        ("temperature=-0.5", r"temperature = -0.5 must be > 0"),
        ("top_p=0", r"top_p = 0.0 must be in \(0, 1\]"),
        ("max_new_tokens=0", r"max_new_tokens = 0 must be >= 1"),
        ("group_size=1", r"group_size = 1 must be >= 2"),
        ("batch_pivots=0", r"batch_pivots = 0 must be >= 1"),
        ("advantag=loo", r"unknown TrainConfig field 'advantag'; did you mean 'advantage'"),
        ("device=cuda", r"device .*cuda asked for, but this machine has no CUDA GPU"),
        ("dtype=float8", r"dtype = 'float8' is not one of"),
        ("device=tpu", r"device = 'tpu' must be cpu, cuda"),
        ("lora_r=0", r"lora_r = 0 must be >= 1"),
        ("max_steps=1.5", r"max_steps = 1.5 must be a int"),
        ("novalue", r"--set: 'novalue' must look like KEY=VALUE"),
    ]
    out = [Case(f"train-set-{s.split('=')[0]}-{i}", [*TRAIN, "--set", s], e) for i, (s, e) in enumerate(sets)]
    sft_sets = [
        ("epochs=0", r"epochs = 0.0 must be > 0"),
        ("micro_batch_size=9", r"micro_batch_size = 9 must be between 1 and batch_size"),
        ("max_seq_tokens=4", r"max_seq_tokens = 4 must be >= 16"),
        ("lr=inf", r"lr = inf must be a finite number"),
    ]
    out += [Case(f"sft-set-{i}", [*SFT, "--set", s], e) for i, (s, e) in enumerate(sft_sets)]
    out += [
        Case(
            "train-config-missing",
            [*TRAIN, "--config", "nope.toml"],
            r"--config: config file nope\.toml does not exist",
        ),
        Case(
            "train-config-bad-toml",
            [*TRAIN, "--config", "b.toml"],
            r"b\.toml: invalid TOML",
            {"b.toml": "[train\nlr=1"},
        ),
        Case(
            "train-config-inf",
            [*TRAIN, "--config", "b.toml"],
            r"b\.toml: \[train\.lr\] lr = inf must be a finite",
            {"b.toml": "[train]\nlr = inf\n"},
        ),
        Case(
            "train-config-type",
            [*TRAIN, "--config", "b.toml"],
            r"b\.toml: \[train\.lr\] lr = 'fast' must be a float",
            {"b.toml": '[train]\nlr = "fast"\n'},
        ),
        Case("train-config-not-utf8", [*TRAIN, "--config", "b.toml"], r"b\.toml", {"b.toml": b"lr = \xff\n"}),
        Case(
            "sft-config-unknown-key",
            [*SFT, "--config", "b.toml"],
            r"b\.toml: \[sft\.epoch\] unknown SFTConfig field 'epoch'",
            {"b.toml": "[sft]\nepoch = 1\n"},
        ),
        Case("run-config-missing", ["run", "nope.toml", "-o", "out"], r"nope\.toml"),
        Case("run-config-bad-toml", ["run", "b.toml", "-o", "out"], r"b\.toml", {"b.toml": "[data\n"}),
        Case(
            "run-config-train-inf",
            ["run", "b.toml", "-o", "out"],
            r"b\.toml.*lr",
            {"b.toml": '[data]\ntrajectories = ["traj.jsonl"]\n[train]\nlr = inf\n'},
        ),
        Case("run-set-novalue", ["run", "ok.toml", "-o", "out", "--set", "novalue"], r"--set"),
    ]
    return out


PLUGIN_OK_A = """
from pivotrl_core import hookimpl

@hookimpl
def pivotrl_register_verifiers(register):
    register(lambda candidate, action: 1.0, name="same-name")
"""


def _plugin_cases() -> list[Case]:
    return [
        Case("plugin-missing-file", ["--plugin", "nope.py", "plugins"], r"nope\.py"),
        Case(
            "plugin-syntax-error",
            ["--plugin", "p.py", "plugins"],
            r"p\.py.*SyntaxError",
            {"p.py": "def broken(:\n"},
        ),
        Case(
            "plugin-import-error",
            ["--plugin", "p.py", "plugins"],
            r"p\.py.*ModuleNotFoundError",
            {"p.py": "import no_such_module_xyz\n"},
        ),
        Case(
            "plugin-failing-hook",
            ["--plugin", "p.py", "verifiers"],
            r"file:p\.py.*RuntimeError: boom",
            {
                "p.py": "from pivotrl_core import hookimpl\n@hookimpl\n"
                "def pivotrl_register_verifiers(register):\n    raise RuntimeError('boom')\n"
            },
        ),
        Case(
            "plugin-duplicate-name",
            ["--plugin", "a.py", "--plugin", "b.py", "verifiers"],
            r"same-name",
            {"a.py": PLUGIN_OK_A, "b.py": PLUGIN_OK_A},
        ),
        Case("plugin-not-python", ["--plugin", "p.txt", "plugins"], r"p\.txt", {"p.txt": "x"}),
        Case(
            "plugin-same-basename",
            ["--plugin", "x/p.py", "--plugin", "y/p.py", "plugins"],
            r"also named p\.py",
            {"x/p.py": "", "y/p.py": ""},
        ),
    ]


def _more_cases() -> list[Case]:
    """Seeds, empty files, the wrong kind of file, odd paths."""
    return [
        Case("profile-seed-neg", [*PROFILE, "--seed", "-1"], "--seed"),
        Case("profile-seed-huge", [*PROFILE, "--seed", str(2**64)], "--seed"),
        Case("select-seed-neg", [*SELECT, "--seed", "-1"], "--seed"),
        Case("eval-seeds-huge", [*EVAL, "--seeds", str(2**70)], "--seeds: .*must be in"),
        Case("train-set-seed-neg", [*TRAIN, "--set", "seed=-1"], r"seed = -1 must be in \[0, 2\*\*32\)"),
        Case("sft-set-seed-huge", [*SFT, "--set", f"seed={2**40}"], r"seed = \d+ must be in"),
        Case(
            "select-empty",
            ["select", "e.jsonl", "-o", "o.jsonl"],
            r"e\.jsonl: no profile rows",
            {"e.jsonl": ""},
        ),
        Case(
            "train-empty",
            ["train", "e.jsonl", "-o", "run", *NO_MODEL],
            r"e\.jsonl: no pivots",
            {"e.jsonl": ""},
        ),
        Case(
            "train-on-trajectories",
            ["train", "traj.jsonl", "-o", "run", *NO_MODEL],
            r"traj\.jsonl:1: field 'expected'",
        ),
        Case(
            "select-candidates-are-trajectories",
            [*SELECT, "--candidates", "traj.jsonl"],
            r"traj\.jsonl:1: field 'expected'",
        ),
        Case(
            "verify-candidates-are-trajectories",
            ["verify", "traj.jsonl", "--actions", "acts.jsonl", "-o", "v.jsonl"],
            r"traj\.jsonl:1",
        ),
        Case(
            "extract-profile-rows",
            ["extract", "prof.jsonl", "-o", "o.jsonl"],
            r"prof\.jsonl:1: cannot detect the trajectory format",
        ),
        Case(
            "sft-profile-rows", ["sft", "prof.jsonl", "-o", "run", *NO_MODEL], r"prof\.jsonl:1: cannot detect"
        ),
        Case(
            "verify-config-bad-toml",
            [*VERIFY, "--config", "b.toml"],
            r"b\.toml: --config",
            {"b.toml": "[verifier\n"},
        ),
        Case("check-config-missing", [*CHECK, "--config", "nope.toml"], r"nope\.toml: --config"),
        Case("help-path-traversal", ["help", "../../etc/passwd"], "no help topic"),
        Case(
            "plugin-is-folder", ["--plugin", "pdir", "plugins"], r"--plugin pdir: not a file", {"pdir/x": ""}
        ),
        Case("quickstart-set-novalue", ["quickstart", "--set", "novalue", "-o", "q"], r"--set: 'novalue'"),
        Case("eval-unknown-domain", [*EVAL, "--domain", "nosuch"], "unknown domain 'nosuch'"),
        Case("train-set-unknown-verifier", [*TRAIN, "--set", "verifier=nosuch"], "unknown verifier 'nosuch'"),
        Case("train-set-unknown-domain", [*TRAIN, "--set", "domain=nosuch"], "unknown domain 'nosuch'"),
        Case("verify-unknown-domain", [*VERIFY, "--domain", "nosuch"], "unknown domain 'nosuch'"),
        Case(
            "profile-unknown-verifier-option",
            [*PROFILE, "--verifier", "exact", "--verifier-option", "zz=1"],
            "no option 'zz'",
        ),
        Case("check-unknown-option", [*CHECK, "--verifier", "exact", "--option", "zz=1"], "no option 'zz'"),
        Case(
            "train-set-list-type",
            [*TRAIN, "--set", "lora_target_modules=5"],
            "lora_target_modules = 5 must be a list",
        ),
        Case(
            "train-set-table-type",
            [*TRAIN, "--set", "verifier_options=3"],
            "verifier_options = 3 must be a table",
        ),
        Case(
            "run-config-unknown-train-key",
            ["run", "b.toml", "-o", "out"],
            r"b\.toml.*lrr",
            {"b.toml": '[data]\ntrajectories = ["traj.jsonl"]\n[train]\nlrr = 1\n'},
        ),
        Case(
            "export-output-is-folder",
            ["export", "cands.jsonl", "--format", "openai", "-o", "adir"],
            "adir",
            {"adir/k": ""},
        ),
    ]


def all_cases() -> list[Case]:
    return [
        *_row_cases(),
        *_gzip_cases(),
        *_field_cases(),
        *_io_cases(),
        *_flag_cases(),
        *_config_cases(),
        *_plugin_cases(),
        *_more_cases(),
    ]
