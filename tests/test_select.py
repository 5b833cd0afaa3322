"""``pivotrl select``: the filter, the trajectory split, the outputs and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pivot_data import make_candidates, write_candidates

from pivotrl_core.cli import main
from pivotrl_core.errors import ConfigError
from pivotrl_core.jsonl import read_jsonl, write_jsonl
from pivotrl_core.select import SelectConfig, classify, in_validation, select_pivots, val_path
from pivotrl_core.select_report import write_report
from pivotrl_core.types import Candidate, Profile, VerifierSpec

# scores per candidate (12 candidates: 4 trajectories x 3 turns), chosen to hit every category
SCORES: list[list[float | None]] = [
    [1, 1, 1, 1],  # all_pass
    [0, 0, 0, 0],  # all_fail
    [1, 0, 0, 0],  # mixed, mean .25 -> kept
    [1, 1, 1, 0],  # mixed, mean .75 -> too easy
    [None, None, None, None],  # errored
    [1, None, 0, None],  # mixed over 2 scored, mean .5 -> kept
    [],  # skipped (context)
    [0.5, 0.5, 0.5, 0.5],  # constant partial scores
    [1, 0, 0, 0],  # kept
    [0, 0, 1, 0],  # kept
    [1, 1, 0, 0],  # mean .5 -> kept
    [1, 1, 1, None],  # all_pass with one errored sample
]


def _profiles(cands: list[Candidate], path: Path, candidates_file: Path | None = None) -> Path:
    rows = []
    for c, scores in zip(cands, SCORES, strict=True):
        meta = {
            "context": {"skipped": "prompt has 9000 tokens > limit 7936"}
            if not scores
            else {"dropped_turns": 0}
        }
        if candidates_file:
            meta["candidates"] = str(candidates_file)
        rows.append(
            Profile(
                c.id,
                c.domain,
                c.trajectory_id,
                "hf:tiny",
                4,
                tuple(None if s is None else float(s) for s in scores),
                metadata=meta,
            )
        )
    write_jsonl(path, rows)
    return path


@pytest.fixture
def data(tmp_path: Path) -> tuple[list[Candidate], Path, Path]:
    cands = make_candidates(4, 3)
    cfile = write_candidates(tmp_path / "cands.jsonl", cands)
    return cands, cfile, _profiles(cands, tmp_path / "profiles.jsonl", cfile)


def test_classify_categories() -> None:
    cats = [
        classify(
            Profile(
                "x",
                "d",
                "t",
                "p",
                4,
                tuple(None if s is None else float(s) for s in sc),
                metadata={"context": {"skipped": "long"}} if not sc else {},
            )
        )
        for sc in SCORES
    ]
    assert cats == [
        "all_pass",
        "all_fail",
        "mixed",
        "mixed",
        "errored",
        "mixed",
        "skipped",
        "constant",
        "mixed",
        "mixed",
        "mixed",
        "all_pass",
    ]


def test_keeps_mixed_hard_candidates_and_joins_them(data, tmp_path: Path) -> None:  # noqa: ANN001
    cands, _, profiles = data
    res = select_pivots(profiles, tmp_path / "pivots.jsonl", SelectConfig(val_fraction=0.0))
    kept = [r["id"] for r in map(json.loads, (tmp_path / "pivots.jsonl").read_text().splitlines())]
    assert kept == [cands[i].id for i in (2, 5, 8, 9, 10)]
    assert (tmp_path / "pivots.val.jsonl").read_text() == ""
    c = res.counts
    assert (c["all_pass"], c["all_fail"], c["mixed"], c["errored"], c["skipped"], c["constant"]) == (
        2,
        1,
        6,
        1,
        1,
        1,
    )
    assert (c["kept"], c["mixed_too_easy"], c["errored_samples"]) == (5, 1, 7)
    # rows are full candidates plus the profile stats (what the trainer reads)
    rows = list(read_jsonl(tmp_path / "pivots.jsonl", lambda d: d))
    assert Candidate.from_dict(rows[0]) == cands[2]
    assert (
        rows[1]["profile"]["mean"] == 0.5
        and rows[1]["profile"]["n_errors"] == 2
        and rows[1]["split"] == "train"
    )


def test_thresholds_change_the_selection(data, tmp_path: Path) -> None:  # noqa: ANN001
    _, _, profiles = data
    strict = select_pivots(profiles, tmp_path / "a.jsonl", SelectConfig(max_mean=0.3, val_fraction=0))
    assert strict.counts["kept"] == 3  # means .25, .25, .25
    high_std = select_pivots(profiles, tmp_path / "b.jsonl", SelectConfig(min_std=0.45, val_fraction=0))
    assert high_std.counts["kept"] == 2 and high_std.counts["mixed_low_std"] == 3  # std .5 only: means .5


def test_split_is_by_trajectory_and_deterministic(tmp_path: Path) -> None:
    cands = make_candidates(40, 3)
    cfile = write_candidates(tmp_path / "c.jsonl", cands)
    rows = [Profile(c.id, c.domain, c.trajectory_id, "p", 2, (1.0, 0.0)) for c in cands]  # all kept
    write_jsonl(tmp_path / "p.jsonl", rows)
    res = select_pivots(
        tmp_path / "p.jsonl", tmp_path / "out.jsonl", SelectConfig(val_fraction=0.3, seed=1), candidates=cfile
    )
    train = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    val = [json.loads(x) for x in (tmp_path / "out.val.jsonl").read_text().splitlines()]
    t_traj, v_traj = {r["trajectory_id"] for r in train}, {r["trajectory_id"] for r in val}
    assert not t_traj & v_traj and len(train) + len(val) == 120
    assert 4 <= len(v_traj) <= 20  # about 30% of 40 trajectories
    assert v_traj == {f"traj{i}" for i in range(40) if in_validation(f"traj{i}", 1, 0.3)}
    assert res.counts["val"] == len(val) == 3 * len(v_traj)
    again = select_pivots(
        tmp_path / "p.jsonl",
        tmp_path / "again.jsonl",
        SelectConfig(val_fraction=0.3, seed=1),
        candidates=cfile,
    )
    assert (tmp_path / "again.val.jsonl").read_text() == (tmp_path / "out.val.jsonl").read_text()
    assert again.counts == res.counts
    other = select_pivots(
        tmp_path / "p.jsonl", tmp_path / "o.jsonl", SelectConfig(val_fraction=0.3, seed=2), candidates=cfile
    )
    assert other.val_trajectories != res.val_trajectories


def test_report_files_and_breakdowns(data, tmp_path: Path) -> None:  # noqa: ANN001
    _, _, profiles = data
    res = select_pivots(profiles, tmp_path / "pivots.jsonl", SelectConfig(val_fraction=0))
    rep = write_report(res, tmp_path / "report")
    saved = json.loads((tmp_path / "report" / "select_report.json").read_text())
    assert saved == rep
    assert rep["counts"]["kept"] == 5 and rep["kept_fraction"] == round(5 / 12, 4)
    # scored rows: 10 (not errored/skipped); zero-signal = all_pass 2 + all_fail 1 + constant 1
    assert rep["zero_signal_fraction"] == 0.4
    # candidates 1, 4, 7, 10 expect get_order, the others a message; kept: 2, 5, 8, 9, 10
    assert rep["per_tool"]["get_order"] == {"candidates": 4, "kept": 1, "kept_fraction": 0.25}
    assert rep["per_tool"]["message"] == {"candidates": 8, "kept": 4, "kept_fraction": 0.5}
    assert rep["per_domain"]["ptest"]["kept"] == 5
    png = (tmp_path / "report" / "pass_rate_hist.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 2000
    md = (tmp_path / "report" / "select_report.md").read_text()
    assert "| kept | 5 |" in md and "get_order" in md


def test_cli_infers_candidates_and_writes_report(data, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    _, _, profiles = data
    out = tmp_path / "sel" / "pivots.jsonl"
    with pytest.raises(SystemExit) as e:
        main(["select", str(profiles), "-o", str(out), "--json", "--val-fraction", "0.5"])
    assert e.value.code == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["counts"]["train"] + rep["counts"]["val"] == 5
    assert (out.parent / "select_report.md").exists() and val_path(out).exists()


def test_nemo_gym_format_rows(data, tmp_path: Path) -> None:  # noqa: ANN001
    from pivotrl_core.formats.nemo_gym import row_to_candidate

    cands, _, profiles = data
    select_pivots(profiles, tmp_path / "rows.jsonl", SelectConfig(val_fraction=0, format="nemo-gym"))
    rows = [json.loads(x) for x in (tmp_path / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 5
    assert all("responses_create_params" in r and "expected_action" in r for r in rows)
    back = row_to_candidate(rows[4], 0)  # candidate 10 expects a get_order call
    assert back.expected.tool_calls[0].name == "get_order"
    assert back.expected.tool_calls[0].arguments == cands[10].expected.tool_calls[0].arguments
    assert row_to_candidate(rows[0], 0).expected.content == cands[2].expected.content


def test_bad_inputs_are_reported(data, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    cands, cfile, _ = data
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"candidate_id": "a", "k": 4, "scores": [1, 0]}\n{"candidate_id": "b", "k": 4, "scores": ["x"]}\n'
    )
    with pytest.raises(SystemExit) as e:
        main(["select", str(bad), "-o", str(tmp_path / "o.jsonl"), "--candidates", str(cfile)])
    assert e.value.code == 2 and "bad.jsonl:2" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()
    nameless = _profiles(cands, tmp_path / "p2.jsonl")  # rows do not say where the candidates are
    with pytest.raises(ConfigError, match="--candidates"):
        select_pivots(nameless, tmp_path / "o.jsonl")
    with pytest.raises(ConfigError, match="max-mean"):
        SelectConfig(max_mean=0)


def _one_profile(path: Path, c: Candidate, scores: list, **kw) -> Path:  # noqa: ANN003
    row = Profile(c.id, c.domain, c.trajectory_id, "hf:tiny", len(scores), tuple(scores), **kw).to_dict()
    path.write_text(json.dumps(row) + "\n")
    return path


def test_min_scored_drops_a_pivot_scored_on_too_few_samples(tmp_path: Path) -> None:
    cands = make_candidates(1, 1)
    cfile = write_candidates(tmp_path / "c.jsonl", cands)
    sparse = _one_profile(tmp_path / "p.jsonl", cands[0], [1.0, 0.0, None, None, None, None, None, None])
    res = select_pivots(sparse, tmp_path / "a.jsonl", SelectConfig(val_fraction=0.0), candidates=cfile)
    assert res.counts["kept"] == 0 and res.counts["mixed_too_few_scored"] == 1  # 2 of 8 scored
    assert write_report(res, tmp_path / "rep")["thresholds"]["min_scored"] == 0.5
    res = select_pivots(
        sparse, tmp_path / "b.jsonl", SelectConfig(val_fraction=0.0, min_scored=0.25), candidates=cfile
    )
    assert res.counts["kept"] == 1
    out = tmp_path / "c.out.jsonl"
    args = ["select", str(sparse), "-o", str(out), "--candidates", str(cfile), "--val-fraction", "0"]
    assert main_code([*args, "--min-scored", "0.2"]) == 0 and len(out.read_text().splitlines()) == 1
    assert main_code(args) == 0 and out.read_text() == ""


def main_code(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as e:
        return int(e.code or 0)
    return 0


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "1e999", "7.0", "-0.5", "true"])
def test_bad_scores_are_rejected_at_read_naming_file_line_and_field(tmp_path: Path, capsys, bad: str) -> None:  # noqa: ANN001
    cands = make_candidates(1, 2)
    cfile = write_candidates(tmp_path / "c.jsonl", cands)
    good = json.dumps(Profile(cands[0].id, "ptest", "traj0", "hf:tiny", 2, (1.0, 0.0)).to_dict())
    bad_row = good.replace('"scores": [1.0, 0.0]', f'"scores": [1.0, {bad}]').replace(
        cands[0].id, cands[1].id
    )
    profiles = tmp_path / "p.jsonl"
    profiles.write_text(good + "\n" + bad_row + "\n")
    out = tmp_path / "pivots.jsonl"
    code = main_code(["select", str(profiles), "-o", str(out), "--candidates", str(cfile)])
    err = capsys.readouterr().err
    where = bad if bad in ("NaN", "Infinity") else "scores[1]"  # a non-JSON token fails at parse
    assert code == 2 and f"{profiles}:2" in err and where in err and "Traceback" not in err
    assert not out.exists()


def test_pivots_carry_the_profile_verifier(tmp_path: Path) -> None:
    cands = make_candidates(1, 1)
    cfile = write_candidates(tmp_path / "c.jsonl", cands)
    spec = VerifierSpec("fuzzy", {"threshold": 0.8})
    prof = _one_profile(tmp_path / "p.jsonl", cands[0], [1.0, 0.0, 0.0, 0.0], verifier=spec)
    select_pivots(prof, tmp_path / "pivots.jsonl", SelectConfig(val_fraction=0.0), candidates=cfile)
    (pivot,) = read_jsonl(tmp_path / "pivots.jsonl", Candidate.from_dict)
    assert pivot.verifier == spec and Profile.from_dict(json.loads(prof.read_text())).verifier == spec
