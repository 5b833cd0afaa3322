"""The real SmolLM2-135M through the hf policy and ``profile`` on real NVIDIA NeMo Gym rows (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pivotrl_core.jsonl import write_jsonl
from pivotrl_core.plugins import get_registry
from pivotrl_core.policies.base import Prompt, SamplingParams
from pivotrl_core.profile import ProfileConfig, profile_candidates
from pivotrl_core.types import Message

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm():  # noqa: ANN201
    from pivotrl_core.policies.hf import HFPolicy

    return HFPolicy("smollm2-135m")


def test_smollm_answers_and_stops(smollm) -> None:  # noqa: ANN001
    prompt = Prompt((Message("user", "What is the capital of France?"),))
    [[c]] = smollm.sample([prompt], 1, SamplingParams(temperature=0, max_new_tokens=40))
    assert "Paris" in c.text and c.finish_reason == "stop"
    [lp] = smollm.logprobs([prompt], [c])
    assert abs(float(lp.sum()) - sum(c.logprobs or ())) < 1e-2


def test_profile_real_nemo_gym_rows(smollm, nemo_gym_dir: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from pivotrl_core.formats.nemo_gym import row_to_candidate

    src = nemo_gym_dir / "single_step_tool_use_with_argument_comparison" / "example.jsonl"
    rows = [json.loads(x) for x in src.read_text().splitlines()[:2]]
    cands = [row_to_candidate(r, i) for i, r in enumerate(rows)]
    write_jsonl(tmp_path / "c.jsonl", cands)
    cfg = ProfileConfig(
        k=2, sampling=SamplingParams(temperature=1.0, max_new_tokens=24, seed=0), save_samples=True
    )
    stats = profile_candidates(
        tmp_path / "c.jsonl", tmp_path / "p.jsonl", smollm, cfg, registry=get_registry(), progress=False
    )
    out = [json.loads(x) for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert stats.profiled == 2 and [r["candidate_id"] for r in out] == [c.id for c in cands]
    for r in out:
        assert len(r["scores"]) == 2 and None not in r["scores"]  # tool_call is deterministic: no errors
        assert r["verifier"]["name"] == "tool_call" and r["policy"] == "hf:smollm2-135m"
        assert 1000 < r["metadata"]["context"]["used_tokens"] <= 8192 - 24


def test_docs_policies_example_runs() -> None:
    """The Python example of docs/policies.md runs as written."""
    import re

    doc = (Path(__file__).resolve().parents[1] / "docs" / "policies.md").read_text()
    [code] = [b for b in re.findall(r"```python\n(.*?)```", doc, re.S) if "HFPolicy(" in b]
    ns: dict = {}
    exec(compile(code, "docs/policies.md", "exec"), ns)  # noqa: S102 - our own documentation
    assert [len(x) for x in ns["lps"]] == [len(ns["c1"].token_ids), len(ns["c2"].token_ids)]
