"""The one rollout path: profile, train (and refresh) and eval all sample and verify through
``rollouts.sample_and_verify``, with one prompt builder and one verifier choice; the verifier a
candidate was profiled with travels in the profiles and pivots and is what train and eval use."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

import pivotrl_core.eval.heldout as heldout
import pivotrl_core.profile as profile_mod
import pivotrl_core.train.grpo as grpo
import pivotrl_core.train.refresh as refresh
import pivotrl_core.train.rollout as train_rollout
import pivotrl_core.train.run_state as run_state
from pivotrl_core import Candidate, Completion, Domain, Message, Prompt, SamplingParams, hookimpl, rollouts
from pivotrl_core.eval import EvalConfig, evaluate_sets
from pivotrl_core.jsonl import read_jsonl, write_jsonl
from pivotrl_core.policies.hf import HFPolicy
from pivotrl_core.profile import ProfileConfig, profile_candidates
from pivotrl_core.rollouts import VerifierResolver, is_pivot, sample_and_verify
from pivotrl_core.select import SelectConfig, select_pivots
from pivotrl_core.train.config import TrainConfig, load_config
from pivotrl_core.train.rollout import TrainerPolicy
from pivotrl_core.types import Profile, VerifierSpec

pytestmark = pytest.mark.usefixtures("one_thread")

CALLS: list[tuple[str, int | None]] = []  # (verifier, option m) of every verification


def mod(candidate: Candidate, action: Message, m: int = 2) -> bool:
    """Pass when the action's length is a multiple of ``m`` (mixed outcomes on a random model)."""
    CALLS.append(("mod", m))
    return len(action.content or "") % m == 0


def other(candidate: Candidate, action: Message) -> bool:
    CALLS.append(("other", None))
    return True


class RecPlugin:
    @hookimpl
    def pivotrl_register_domains(self, register):  # noqa: ANN001, ANN201
        register(Domain(name="rec", verifier="mod", verifier_options={"m": 2}, system_prompt="Be terse."))

    @hookimpl
    def pivotrl_register_verifiers(self, register):  # noqa: ANN001, ANN201
        register(mod, name="mod")
        register(other, name="other")


class RecordingPolicy:
    """A real policy (``hf`` on the tiny model) whose ``sample`` calls are recorded."""

    name = "recording"

    def __init__(self, inner: HFPolicy) -> None:
        self.inner = inner
        self.prompts: list[Prompt] = []

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        self.prompts.extend(prompts)
        return self.inner.sample(prompts, n, sampling)

    def close(self) -> None:
        pass


class RecordingTrainerPolicy(TrainerPolicy):
    """The trainer's policy, recording the prompts it is asked to continue."""

    prompts: list[Prompt] = []

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        RecordingTrainerPolicy.prompts.extend(prompts)
        return super().sample(prompts, n, sampling)


@pytest.fixture
def rec(register_plugin):  # noqa: ANN001, ANN201
    CALLS.clear()
    return register_plugin(RecPlugin(), name="rec-plugin")


def _cands(n: int = 4) -> list[Candidate]:
    return [
        Candidate(
            id=f"r{i}:1",
            domain="rec",
            trajectory_id=f"r{i}",
            turn_index=1,
            messages=(Message("user", f"Say something about {i}."),),  # no system message: the domain's
            expected=Message("assistant", "ok"),
        )
        for i in range(n)
    ]


def _spy(monkeypatch: pytest.MonkeyPatch, callers: list[str]) -> None:
    """Record which module called the shared rollout function (and call it)."""
    for mod_ in (profile_mod, train_rollout, refresh, heldout):

        def spy(*args, _name=mod_.__name__, **kw):  # noqa: ANN002, ANN003, ANN202
            callers.append(_name)
            return rollouts.sample_and_verify(*args, **kw)

        monkeypatch.setattr(mod_, "sample_and_verify", spy)


def _train_cfg(model: str, **over) -> TrainConfig:  # noqa: ANN003
    base = {"model": model, "max_new_tokens": 6, "group_size": 4, "batch_pivots": 2, "max_steps": 1}
    base |= {"tensorboard": False, "progress": False, "save_every": 1}
    return load_config(TrainConfig, overrides={**base, **over})


def test_profile_train_and_eval_share_the_rollout_path_and_the_profile_verifier(
    rec, tiny_model_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    for mod_ in (profile_mod, train_rollout, refresh, heldout):
        assert mod_.sample_and_verify is rollouts.sample_and_verify  # one function, imported
    callers: list[str] = []
    _spy(monkeypatch, callers)
    cands = _cands()
    cfile = tmp_path / "c.jsonl"
    write_jsonl(cfile, cands)
    # profile with a chosen verifier and options
    policy = RecordingPolicy(HFPolicy(tiny_model_path))
    cfg = ProfileConfig(k=8, verifier="mod", verifier_options={"m": 3}, batch_size=4)
    cfg = ProfileConfig(**{**cfg.__dict__, "sampling": SamplingParams(max_new_tokens=8, seed=0)})
    profile_candidates(cfile, tmp_path / "p.jsonl", policy, cfg, registry=rec, progress=False)
    assert set(CALLS) == {("mod", 3)} and callers == ["pivotrl_core.profile"]
    spec = VerifierSpec("mod", {"m": 3})
    assert all(p.verifier == spec for p in read_jsonl(tmp_path / "p.jsonl", Profile.from_dict))
    pivots = tmp_path / "pivots.jsonl"
    select_pivots(tmp_path / "p.jsonl", pivots, SelectConfig(max_mean=1.0, val_fraction=0.0))
    kept = list(read_jsonl(pivots, Candidate.from_dict))
    assert kept and all(c.verifier == spec for c in kept)
    # train: no verifier given -> the pivots' (m=3, not the domain's m=2)
    CALLS.clear()
    RecordingTrainerPolicy.prompts = []
    real = run_state.make_policy
    monkeypatch.setattr(
        run_state,
        "make_policy",
        lambda *a, **kw: RecordingTrainerPolicy(real(*a, **kw).hf, kw.get("boundary", 0)),
    )
    grpo.train(_train_cfg(tiny_model_path), pivots, tmp_path / "run", registry=rec)
    assert CALLS and set(CALLS) == {("mod", 3)} and callers[-1] == "pivotrl_core.train.rollout"
    # eval: the same verifier by default, another when told
    CALLS.clear()
    evaluate_sets(policy, [pivots], EvalConfig(progress=False), registry=rec)
    assert set(CALLS) == {("mod", 3)} and callers[-1] == "pivotrl_core.eval.heldout"
    CALLS.clear()
    evaluate_sets(policy, [pivots], EvalConfig(verifier="other", progress=False), registry=rec)
    assert set(CALLS) == {("other", None)}
    # one prompt builder: the domain's system prompt, the same prompt in all three stages
    expected = {c.id: Prompt.for_candidate(c, "Be terse.") for c in cands}
    by_user = {p.messages[-1].content: p for p in policy.prompts}
    for c in cands:
        assert by_user[c.messages[-1].content] == expected[c.id]
        assert expected[c.id].messages[0] == Message("system", "Be terse.")
    assert RecordingTrainerPolicy.prompts
    assert all(p in expected.values() for p in RecordingTrainerPolicy.prompts)
    # told otherwise: train with --verifier
    CALLS.clear()
    grpo.train(_train_cfg(tiny_model_path, verifier="other"), pivots, tmp_path / "run2", registry=rec)
    assert set(CALLS) == {("other", None)}


def test_verifier_resolver_order(rec) -> None:  # noqa: ANN001
    plain, recorded = _cands(1)[0], Candidate(**{**_cands(1)[0].__dict__, "verifier": VerifierSpec("other")})
    assert VerifierResolver(rec).spec_for(plain) == VerifierSpec("mod", {"m": 2})  # the domain's default
    assert VerifierResolver(rec).spec_for(recorded) == VerifierSpec("other")  # what profile recorded
    assert VerifierResolver(rec, domain="rec").spec_for(recorded) == VerifierSpec("other")
    forced = VerifierResolver(rec, verifier="mod", options={"m": 5})
    assert forced.spec_for(recorded) == VerifierSpec("mod", {"m": 5})
    assert forced.for_candidate(plain) is forced.for_candidate(recorded)  # built once
    assert VerifierResolver(rec, options={"m": 7}).spec_for(plain) == VerifierSpec("mod", {"m": 7})
    assert VerifierResolver(rec).prompt(plain).messages[0].content == "Be terse."


class _Scripted:
    name, model_id = "scripted", "scripted"

    def __init__(self, comps: list[list[Completion]]) -> None:
        self.comps = comps

    def sample(self, prompts: Sequence[Prompt], n: int, sampling: SamplingParams) -> list[list[Completion]]:
        return self.comps[: len(prompts)]

    def close(self) -> None:
        pass


def test_policy_errors_and_failing_batch_verifiers_are_errored_never_zero(rec) -> None:  # noqa: ANN001
    ok = Completion("ab", Message("assistant", "ab"))
    broken = Completion("", Message("assistant", ""), finish_reason="error", meta={"error": "HTTP 500"})
    groups = sample_and_verify(
        _Scripted([[ok, broken], []]), _cands(2), 2, SamplingParams(), resolver=VerifierResolver(rec)
    )
    assert groups[0].scores == [1.0, None] and groups[0].verdicts[1].error == "HTTP 500"
    assert groups[1].skipped and groups[1].scores == []
    assert CALLS == [("mod", 2)]  # the policy's failed completion was not verified

    class Exploding(VerifierResolver):
        def build(self, spec: VerifierSpec):  # noqa: ANN201
            v = super().build(spec)

            def boom(pairs):  # noqa: ANN001, ANN202
                raise RuntimeError("batch API down")

            v.verify_batch = boom
            return v

    (g,) = sample_and_verify(_Scripted([[ok, ok]]), _cands(1), 2, SamplingParams(), resolver=Exploding(rec))
    assert g.scores == [None, None] and "batch API down" in g.verdicts[0].error


def test_is_pivot_min_scored() -> None:
    def prof(scores: list[float | None]) -> Profile:
        return Profile("c", "d", "t", "p", len(scores), tuple(scores))

    two_of_eight = prof([1.0, 0.0, *[None] * 6])
    assert is_pivot(two_of_eight, 0.6) and not is_pivot(two_of_eight, 0.6, min_scored=0.5)
    assert is_pivot(prof([1.0, 0.0, 0.0, 0.0, None, None, None, None]), 0.6, min_scored=0.5)
    assert not is_pivot(prof([1.0]), 0.6) and not is_pivot(prof([1.0, 1.0, 0.0]), 0.6)


def test_trainer_policy_is_a_policy_with_token_ids_and_logprobs(rec, tiny_model_path: str) -> None:  # noqa: ANN001
    policy = TrainerPolicy(HFPolicy(tiny_model_path))
    sampling = SamplingParams(max_new_tokens=5, seed=2)
    (g,) = sample_and_verify(policy, _cands(1), 3, sampling, resolver=VerifierResolver(rec))
    assert len(g.completions) == 3 and len(g.verdicts) == 3 and not g.skipped
    for c in g.completions:
        assert c.token_ids and len(c.logprobs) == len(c.token_ids)
        assert c.meta["prompt_ids"] == policy.hf.prepare(g.prompt, 5).ids
    # the same draws as the hf backend for the same seed
    ref = policy.hf.sample([g.prompt], 3, sampling)[0]
    assert [c.token_ids for c in g.completions] == [c.token_ids for c in ref]
