"""Evaluation: held-out accuracy, benchmark adapters, OOD accuracy and KL, the `pivotrl eval` CLI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from pivotrl_core import Candidate, Completion, Domain, Message, SamplingParams, ToolCall, hookimpl
from pivotrl_core.errors import UnknownNameError
from pivotrl_core.eval import (
    EvalConfig,
    evaluate,
    evaluate_candidates,
    evaluate_ood,
    mean_std,
    ood_kl,
    run_benchmark,
)
from pivotrl_core.eval.ood import Probe, _answer_ids
from pivotrl_core.plugins import get_registry
from pivotrl_core.policies.base import Prompt
from pivotrl_core.rollouts import VerifierResolver

TOOLS = (
    {
        "type": "function",
        "function": {
            "name": "get_order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}},
                "required": ["order_id"],
            },
        },
    },
)


def _cand(i: int, call: bool = True) -> Candidate:
    expected = (
        Message("assistant", tool_calls=(ToolCall("get_order", {"order_id": f"W{i}"}),))
        if call
        else Message("assistant", "Your order has shipped.")
    )
    return Candidate(
        id=f"t{i}:2",
        domain="generic",
        trajectory_id=f"t{i}",
        turn_index=2,
        messages=(Message("system", "You help."), Message("user", f"Where is order W{i}?")),
        expected=expected,
        tools=TOOLS,
    )


class ScriptedPolicy:
    """Answers each prompt with a fixed function of the prompt (a test subject, not a fake model)."""

    name = "scripted"
    model_id = "scripted"

    def __init__(self, answer) -> None:  # noqa: ANN001
        self.answer = answer
        self.calls: list[SamplingParams] = []

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        self.calls.append(sampling)
        out = []
        for p in prompts:
            msg = self.answer(p)
            out.append([] if msg is None else [Completion(text=msg.content or "", message=msg)] * n)
        return out

    def close(self) -> None:
        pass


def _echo_expected(cands: list[Candidate], good: set[str]):  # noqa: ANN202
    by_user = {c.messages[-1].content: c for c in cands}

    def answer(p: Prompt) -> Message | None:
        c = by_user[p.messages[-1].content]
        if c.id in good:
            return c.expected
        return Message("assistant", tool_calls=(ToolCall("cancel_order", {"order_id": "nope"}),))

    return answer


def test_held_out_accuracy_uses_the_domain_verifier() -> None:
    cands = [_cand(i) for i in range(4)] + [_cand(9, call=False)]
    policy = ScriptedPolicy(_echo_expected(cands, {"t0:2", "t1:2", "t9:2"}))
    res = evaluate_candidates(policy, cands, VerifierResolver(get_registry()))
    assert res["accuracy"] == pytest.approx(3 / 5)
    assert (res["n_scored"], res["n_passed"], res["n_errored"], res["skipped"]) == (5, 3, 0, 0)
    assert res["by_kind"]["call"]["accuracy"] == pytest.approx(2 / 4)
    assert res["by_kind"]["message"]["accuracy"] == 1.0
    assert res["by_tool"]["get_order"]["n"] == 4
    assert res["tool_call_rate"] == pytest.approx(4 / 5)
    assert policy.calls[0].temperature == 0.0  # greedy by default


def test_errored_and_skipped_are_counted_not_failed(register_plugin) -> None:
    def flaky(candidate: Candidate, action: Message) -> bool:
        if candidate.id == "t1:2":
            raise TimeoutError("judge timed out")
        return True

    class Plugin:
        @hookimpl
        def pivotrl_register_verifiers(self, register):  # noqa: ANN001, ANN201
            register(flaky, name="flaky")

        @hookimpl
        def pivotrl_register_domains(self, register):  # noqa: ANN001, ANN201
            register(Domain("flaky-domain", verifier="flaky"))

    reg = register_plugin(Plugin(), name="flaky-plugin")
    cands = [_cand(i) for i in range(4)]  # domain "generic": --domain flaky-domain scores them
    skip = {"Where is order W3?"}
    policy = ScriptedPolicy(lambda p: None if p.messages[-1].content in skip else Message("assistant", "hi"))
    res = evaluate_candidates(policy, cands, VerifierResolver(reg, domain="flaky-domain"))
    assert res["n_errored"] == 1 and res["skipped"] == 1 and res["n_scored"] == 2
    assert res["accuracy"] == 1.0  # the errored verdict is not a fail


def test_benchmark_adapter_and_unknown_name(register_plugin) -> None:
    seen = {}

    def bench(policy, *, seeds=(1,), n_tasks=3):  # noqa: ANN001, ANN202
        seen.update(seeds=seeds, n_tasks=n_tasks, policy=policy.name)
        return {"pass^1": 0.5, "pass^1_std": 0.1}

    class Plugin:
        @hookimpl
        def pivotrl_register_domains(self, register):  # noqa: ANN001, ANN201
            register(Domain("bench-domain", benchmarks={"episodes": bench}))

    reg = register_plugin(Plugin(), name="bench-plugin")
    pol = ScriptedPolicy(lambda p: None)
    assert run_benchmark(pol, reg, "bench-domain", "episodes", seeds=(7, 8), n_tasks=2)["pass^1"] == 0.5
    assert seen == {"seeds": (7, 8), "n_tasks": 2, "policy": "scripted"}
    with pytest.raises(UnknownNameError, match="did you mean 'episodes'"):
        run_benchmark(pol, reg, "bench-domain", "episode")


def _probes() -> list[Probe]:
    return [
        Probe("a", "arithmetic", "What is 2 + 3?", "5", base_correct=True),
        Probe("b", "factual", "What is the capital of France?", "Paris", base_correct=True),
        Probe("c", "string", "Spell 'cat' backwards.", "tac", base_correct=False),
    ]


def test_evaluate_ood_accuracy_and_retention() -> None:
    answers = {
        "What is 2 + 3?": "2 + 3 = 5",
        "What is the capital of France?": "The capital of France is Paris.",
        "Spell 'cat' backwards.": "cat",
    }
    res = evaluate_ood(
        ScriptedPolicy(lambda p: Message("assistant", answers[p.messages[-1].content])), _probes()
    )
    assert res["accuracy"] == pytest.approx(2 / 3)
    assert res["retention"] == 1.0 and res["n_base_correct"] == 2
    assert res["by_skill"]["string"]["accuracy"] == 0.0
    forgot = evaluate_ood(
        ScriptedPolicy(lambda p: Message("assistant", "<tool_call>{}</tool_call>")), _probes()
    )
    assert forgot["accuracy"] == 0.0 and forgot["retention"] == 0.0 and forgot["tool_call_answers"] == 3


def test_ood_kl_exact_and_zero_for_the_same_model(tiny_model_path: str) -> None:
    import copy

    import torch

    from pivotrl_core.policies.models import load_model, load_tokenizer

    tok, model = load_tokenizer(tiny_model_path), load_model(tiny_model_path)
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05 * torch.randn_like(p))
    probes = _probes()
    assert ood_kl(model, model, tok, probes)["kl_per_token"] == pytest.approx(0.0, abs=1e-6)
    res = ood_kl(model, other, tok, probes, batch_size=2)  # batching with padding must not matter
    # by hand, one probe at a time, no padding
    total, n = 0.0, 0
    for probe in probes:
        p_ids, a_ids = _answer_ids(tok, probe)
        ids = torch.tensor([p_ids + a_ids])
        with torch.no_grad():
            lp = torch.log_softmax(model(ids).logits[0], -1)
            lq = torch.log_softmax(other(ids).logits[0], -1)
        for t in range(len(p_ids) - 1, len(p_ids) + len(a_ids) - 1):
            total += float((lp[t].exp() * (lp[t] - lq[t])).sum())
            n += 1
    assert res["n_tokens"] == n and res["n_probes"] == 3
    assert res["kl_per_token"] == pytest.approx(total / n, rel=1e-3)
    assert res["kl_per_token"] > 0


def test_mean_std() -> None:
    assert mean_std([0.5, 0.7]) == {
        "mean": pytest.approx(0.6),
        "std": pytest.approx(0.1),
        "n": 2,
        "values": [0.5, 0.7],
    }
    assert mean_std([0.3])["std"] == 0.0 and mean_std([])["mean"] is None


def _cli(args: list[str]):  # noqa: ANN202
    from pivotrl_core.cli import build_cli, cli

    build_cli()
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_eval_cli_end_to_end_with_tiny_model(tiny_model_path: str, tmp_path: Path) -> None:
    cands = tmp_path / "val.jsonl"
    cands.write_text("".join(json.dumps(_cand(i).to_dict()) + "\n" for i in range(3)))
    out = tmp_path / "eval.json"
    r = _cli(
        [
            "eval",
            "--model",
            tiny_model_path,
            "--candidates",
            str(cands),
            "--ood",
            "--ood-limit",
            "2",
            "--reference",
            tiny_model_path,
            "--max-new-tokens",
            "8",
            "-o",
            str(out),
        ]
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    held = doc["held_out"]["sets"]["val"]
    assert held["n_candidates"] == 3 and held["n_scored"] + held["n_errored"] + held["skipped"] == 3
    assert doc["ood"]["n"] == 8 and set(doc["ood"]["by_skill"]) == {
        "arithmetic",
        "factual",
        "string",
        "unit_conversion",
    }
    assert doc["ood"]["kl"]["kl_per_token"] == pytest.approx(0.0, abs=1e-6)  # same model
    assert "held-out val: accuracy" in r.output and "OOD: accuracy" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to evaluate"),
        (["--benchmark", "episodes"], "--benchmark needs --domain"),
        (["--ood", "--seeds", "a,b"], "--seeds 'a,b' must be comma-separated integers"),
    ],
)
def test_eval_cli_errors(tiny_model_path: str, tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "eval.json"
    r = _cli(["eval", "--model", tiny_model_path, *args, "-o", str(out)])
    assert r.exit_code == 2
    assert message in r.output
    assert not out.exists()


def test_eval_cli_policy_flag_and_progress(register_plugin, tmp_path: Path) -> None:
    """``--policy`` takes any registered backend (here a plugin's, no model loaded); the held-out
    pass shows a progress bar on stderr; an unknown backend is exit 2 with a suggestion."""
    made = []

    def echo_policy(model: str, **options) -> ScriptedPolicy:  # noqa: ANN003
        made.append((model, options))
        return ScriptedPolicy(lambda p: Message("assistant", "Your order has shipped."))

    class Plugin:
        @hookimpl
        def pivotrl_register_policies(self, register):  # noqa: ANN001, ANN201
            register(echo_policy, name="echo")

    register_plugin(Plugin(), name="echo-plugin")
    cands = tmp_path / "val.jsonl"
    cands.write_text("".join(json.dumps(_cand(i, call=i == 0).to_dict()) + "\n" for i in range(3)))
    out = tmp_path / "eval.json"
    args = ["eval", "--model", "m", "--candidates", str(cands), "-o", str(out)]
    r = CliRunner().invoke(_cli_group(), [*args, "--policy", "echo", "--policy-option", "x=1"])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["policy"] == "scripted" and made == [("m", {"x": 1})]  # no hf options forced on it
    assert doc["held_out"]["sets"]["val"]["accuracy"] == pytest.approx(2 / 3)
    assert "eval val" in r.stderr and "3/3" in r.stderr
    quiet = CliRunner().invoke(_cli_group(), [*args, "--policy", "echo", "--no-progress"])
    assert quiet.exit_code == 0 and "eval val" not in quiet.stderr
    bad = CliRunner().invoke(_cli_group(), [*args, "--policy", "ech"])
    assert bad.exit_code == 2 and "did you mean 'echo'" in bad.output


def _cli_group():  # noqa: ANN202
    from pivotrl_core.cli import build_cli, cli

    build_cli()
    return cli


def test_eval_verifier_override(register_plugin, tmp_path: Path) -> None:
    seen: list[str] = []

    def strict(candidate: Candidate, action: Message) -> bool:
        seen.append("strict")
        return False

    class Plugin:
        @hookimpl
        def pivotrl_register_verifiers(self, register):  # noqa: ANN001, ANN201
            register(strict, name="strict")

    reg = register_plugin(Plugin(), name="strict-plugin")
    cands = tmp_path / "val.jsonl"
    cands.write_text("".join(json.dumps(_cand(i).to_dict()) + "\n" for i in range(2)))
    policy = ScriptedPolicy(lambda p: None)
    policy.answer = _echo_expected([_cand(i) for i in range(2)], {"t0:2", "t1:2"})
    doc = evaluate(policy, EvalConfig(progress=False), registry=reg, candidates=[cands])
    assert doc["held_out"]["summary"]["mean"] == 1.0 and seen == []  # the domain's own verifier
    doc = evaluate(policy, EvalConfig(verifier="strict", progress=False), registry=reg, candidates=[cands])
    assert doc["held_out"]["summary"]["mean"] == 0.0 and seen == ["strict", "strict"]
