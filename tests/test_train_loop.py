"""The GRPO loop on a tiny model: steps, the shared-prompt loss, resume, errored verdicts, refresh,
block-wise prompt prefill."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from pivotrl_core import Candidate, Domain, Message, hookimpl
from pivotrl_core.plugins import get_registry
from pivotrl_core.policies.attention import PrefixKV, prefix_attention
from pivotrl_core.policies.base import Prompt, SamplingParams
from pivotrl_core.policies.prefix_cache import BLOCK, Block, BlockStore, prefill_frozen, prefill_split
from pivotrl_core.rollouts import VerifierResolver
from pivotrl_core.train.advantages import compute_advantages
from pivotrl_core.train.config import TrainConfig, load_config
from pivotrl_core.train.forward import group_logits, naive_group_logits
from pivotrl_core.train.grpo import _group_loss
from pivotrl_core.train.grpo import train as grpo_train
from pivotrl_core.train.loss import aggregate, clipped_surrogate, token_logprobs
from pivotrl_core.train.metrics import read_metrics
from pivotrl_core.train.rollout import GroupRollout, make_policy, sample_groups
from pivotrl_core.train.setup import build_model

TIMING = {"time_sample", "time_verify", "time_train", "step_time", "tokens_per_s", "wall_time"}


pytestmark = pytest.mark.usefixtures("one_thread")


def parity(candidate: Candidate, action: Message) -> bool:
    """Passes when the sampled text has an even number of characters (mixed outcomes at random)."""
    return len(action.content or "") % 2 == 0


def flaky(candidate: Candidate, action: Message) -> bool:
    """Like ``parity`` but the verifier crashes on lengths divisible by 3 (infrastructure failure)."""
    if len(action.content or "") % 3 == 0:
        raise TimeoutError("judge timed out")
    return len(action.content or "") % 2 == 0


def always(candidate: Candidate, action: Message) -> bool:
    return True


class ToyPlugin:
    @hookimpl
    def pivotrl_register_domains(self, register):
        register(Domain(name="toy", verifier="parity"))
        register(Domain(name="toy-flaky", verifier="flaky"))
        register(Domain(name="toy-easy", verifier="always"))

    @hookimpl
    def pivotrl_register_verifiers(self, register):
        register(parity, name="parity")
        register(flaky, name="flaky")
        register(always, name="always")


def write_pivots(
    path: Path, domain: str = "toy", n: int = 6, start: int = 0, system: str = "Be brief."
) -> Path:
    rows = [
        Candidate(
            id=f"{domain}-{i}:2",
            domain=domain,
            trajectory_id=f"{domain}-{i}",
            turn_index=2,
            messages=(Message("system", system), Message("user", f"Hello {i}, what is 12 plus 30?")),
            expected=Message("assistant", "The answer is 42."),
        ).to_dict()
        | {"mean": 0.5, "std": 0.5}  # extra profile keys, as `pivotrl select` writes
        for i in range(start, start + n)
    ]
    with path.open("a") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return path


@pytest.fixture
def toy(register_plugin):
    return register_plugin(ToyPlugin(), name="toy-plugin")


def train(cfg: TrainConfig, pivots: Path, out: Path, **kw):  # noqa: ANN003, ANN201
    """``grpo.train`` with the process-wide registry (as ``pivotrl train`` passes it)."""
    return grpo_train(cfg, pivots, out, registry=get_registry(), **kw)


def _sample(policy, cands, g: int, sampling: SamplingParams) -> list[GroupRollout | None]:  # noqa: ANN001
    return sample_groups(policy, cands, g, sampling, VerifierResolver(get_registry()))


def config(model: str, **over) -> TrainConfig:
    base = {
        "model": model,
        "max_new_tokens": 6,
        "group_size": 4,
        "batch_pivots": 2,
        "max_steps": 2,
        "lr": 1e-3,
        "tensorboard": False,
        "progress": False,
        "save_every": 1,
    }
    return load_config(TrainConfig, overrides={**base, **over})


def test_two_grpo_steps_change_the_parameters(toy, tiny_model_path, tmp_path) -> None:
    pivots = write_pivots(tmp_path / "pivots.jsonl")
    result = train(config(tiny_model_path), pivots, tmp_path / "run")
    before = load_file(str(Path(tiny_model_path) / "model.safetensors"))
    after = load_file(str(result.final / "model.safetensors"))
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert changed, "no parameter changed after two GRPO steps"
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2]
    for r in rows:
        assert r["loss"] is not None and abs(r["loss"]) < 1e3
        assert r["samples"] == 8 and r["rollout_turns"] == 8 * r["step"]
        assert 0 <= r["frac_zero_variance"] <= 1 and 0 <= r["clip_frac"] <= 1 and r["entropy"] > 0
    assert (tmp_path / "run" / "checkpoints" / "step-000002" / "config.json").exists()
    assert (tmp_path / "run" / "checkpoints" / "step-000002" / "metrics.jsonl").exists()


def _candidates(tmp: Path, n: int) -> list[Candidate]:
    path = write_pivots(tmp / "cands.jsonl", n=n)
    return [Candidate.from_dict(json.loads(line)) for line in path.read_text().splitlines()]


def _rollouts(model_path: str, tmp: Path, n: int = 2, g: int = 4) -> tuple[object, list[GroupRollout]]:
    model, tok = build_model(config(model_path))
    policy = make_policy(model, tok, 512)
    groups = _sample(policy, _candidates(tmp, n), g, SamplingParams(max_new_tokens=7, seed=3))
    return model, [x for x in groups if x is not None]


def _loss_and_grads(model, g: GroupRollout, logits_fn) -> tuple[torch.Tensor, float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    adv = torch.tensor([1.0, -0.5, 0.25, -0.75])
    logp, _ = token_logprobs(logits_fn(), g.tokens)
    loss_tok, _, _ = clipped_surrogate(logp, g.old_logp, adv, 0.2, 0.2)
    loss = aggregate(loss_tok, g.mask, "token", float(g.mask.sum()))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return logp.detach() * g.mask, loss.item(), grads


def test_shared_prompt_loss_equals_the_naive_per_sample_loss(toy, tiny_model_path, tmp_path) -> None:
    model, groups = _rollouts(tiny_model_path, tmp_path)
    g = groups[0]
    lengths = g.mask.sum(-1).long()
    naive = _loss_and_grads(model, g, lambda: naive_group_logits(model, g.prompt_ids, g.tokens, lengths))
    lp, loss, grads = _loss_and_grads(model, g, lambda: group_logits(model, g.prompt_ids, g.tokens))
    assert torch.allclose(lp, naive[0], atol=1e-5)
    assert loss == pytest.approx(naive[1], abs=1e-6)
    assert grads.keys() == naive[2].keys()
    for name in grads:
        assert torch.allclose(grads[name], naive[2][name], atol=1e-6), name
    # the sampling-time log-probs are those of the same distribution
    assert torch.allclose(naive[0], g.old_logp * g.mask, atol=1e-4)


def test_frozen_bottom_layers_are_skipped_exactly(toy, tiny_model_path, tmp_path) -> None:
    """With the top layer trained only, the loss starts from the sampler's layer-1 states."""
    model, tok = build_model(config(tiny_model_path, train_top_n_layers=1))
    policy = make_policy(model, tok, 512, boundary=1)
    (g, *_) = _sample(policy, _candidates(tmp_path, 2), 4, SamplingParams(max_new_tokens=7, seed=3))
    assert g.h_prompt is not None and g.h_prompt.shape[0] == g.prompt_ids.shape[0]
    lengths = g.mask.sum(-1).long()
    naive = _loss_and_grads(model, g, lambda: naive_group_logits(model, g.prompt_ids, g.tokens, lengths))
    lp, loss, grads = _loss_and_grads(
        model, g, lambda: group_logits(model, g.prompt_ids, g.tokens, 1, g.h_prompt, g.h_comp)
    )
    assert torch.allclose(lp, naive[0], atol=1e-5) and loss == pytest.approx(naive[1], abs=1e-6)
    assert grads.keys() == naive[2].keys() and all(
        k.startswith(("model.layers.1.", "model.norm")) for k in grads
    )
    for name in grads:
        assert torch.allclose(grads[name], naive[2][name], atol=1e-6), name


def test_sampling_shares_each_prompt_and_matches_the_hf_backend(toy, tiny_model_path, tmp_path) -> None:
    model, tok = build_model(config(tiny_model_path))
    policy = make_policy(model, tok, 512)
    cands = _candidates(tmp_path, 3)
    sampling = SamplingParams(max_new_tokens=5, seed=1)
    groups = _sample(policy, cands, 8, sampling)
    assert all(len(g.completions) == 8 for g in groups)
    # the same samples as the hf backend's sampler (one prefill, cache expanded per row)
    reference = policy.hf.sample([Prompt.for_candidate(c) for c in cands], 8, sampling)
    for g, ref in zip(groups, reference, strict=True):
        assert [c.token_ids for c in g.completions] == [c.token_ids for c in ref]
        assert [c.message for c in g.completions] == [c.message for c in ref]
        for c, r in zip(g.completions, ref, strict=True):
            assert c.logprobs == pytest.approx(r.logprobs, abs=1e-4)


def test_rows_that_finish_early_leave_the_decode_and_change_nothing(tiny_model_path, tmp_path) -> None:
    model, tok = build_model(config(tiny_model_path))
    policy = make_policy(model, tok, 512).hf
    policy.stop_ids = frozenset(range(0, model.config.vocab_size, 4))  # rows stop at different steps
    cands = _candidates(tmp_path, 3)
    sampling = SamplingParams(max_new_tokens=12, seed=3)
    prompts = [Prompt.for_candidate(c) for c in cands]
    reference = policy.sample(prompts, 6, sampling)  # batched prefill, no recording
    infos = [policy.prepare(p, sampling.max_new_tokens) for p in prompts]
    got = policy.sample_prepared(infos, 6, sampling, record_layer=1)  # block-wise frozen prefill
    assert len({len(c.token_ids) for g in got for c in g}) > 3
    for g, ref in zip(got, reference, strict=True):
        assert [c.token_ids for c in g] == [c.token_ids for c in ref]
        for c, r in zip(g, ref, strict=True):
            assert c.logprobs == pytest.approx(r.logprobs, abs=1e-4)
        # boundary states of the tokens each row fed back (all but its last) are filled, and only those
        h_comp = g[0].meta["h_comp"]
        for row, c in enumerate(g):
            assert bool(h_comp[row, : len(c.token_ids) - 1].abs().sum(-1).gt(0).all())
            assert not bool(h_comp[row, len(c.token_ids) - 1 :].abs().sum())


def test_a_group_with_identical_rewards_contributes_no_gradient(toy, tiny_model_path, tmp_path) -> None:
    model, groups = _rollouts(tiny_model_path, tmp_path)
    rewards = torch.tensor([[1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    adv = compute_advantages(rewards, torch.ones_like(rewards, dtype=torch.bool))
    cfg = config(tiny_model_path)
    model.zero_grad(set_to_none=True)
    loss, _ = _group_loss(model, groups[1], adv[1], 1.0, 10.0, cfg)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.count_nonzero(gr) == 0 for gr in grads)
    model.zero_grad(set_to_none=True)
    loss, _ = _group_loss(model, groups[0], adv[0], 1.0, 10.0, cfg)
    loss.backward()
    assert any(torch.count_nonzero(p.grad) > 0 for p in model.parameters() if p.grad is not None)


def test_errored_verdicts_are_excluded_and_counted(toy, tiny_model_path, tmp_path) -> None:
    model, tok = build_model(config(tiny_model_path))
    cands = [Candidate.from_dict(c.to_dict() | {"domain": "toy-flaky"}) for c in _candidates(tmp_path, 2)]
    groups = [
        g
        for g in _sample(make_policy(model, tok, 512), cands, 8, SamplingParams(max_new_tokens=7, seed=3))
        if g
    ]
    errored = [(gi, j) for gi, g in enumerate(groups) for j, v in enumerate(g.verdicts) if v.errored]
    assert len(errored) > 0
    for gi, j in errored:
        assert groups[gi].mask[j].sum() == 0 and "judge timed out" in groups[gi].verdicts[j].error
    rewards, valid = (torch.stack(t) for t in zip(*(g.rewards() for g in groups), strict=True))
    adv = compute_advantages(rewards, valid)
    assert all(adv[gi, j] == 0 for gi, j in errored)


def test_errored_verdicts_in_a_run(toy, tiny_model_path, tmp_path) -> None:
    pivots = write_pivots(tmp_path / "p.jsonl", domain="toy-flaky", n=4)
    train(config(tiny_model_path, max_steps=3, group_size=8), pivots, tmp_path / "run")
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert sum(r["n_errored"] for r in rows) > 0
    assert all(r["samples"] == 16 for r in rows)


class Crash(Exception):
    pass


def test_resume_continues_bit_for_bit(toy, tiny_model_path, tmp_path) -> None:
    pivots = write_pivots(tmp_path / "p.jsonl", n=5)
    cfg = config(tiny_model_path, max_steps=4, save_every=2, ppo_epochs=2)
    train(cfg, pivots, tmp_path / "a")

    def crash_at_3(step: int, row: dict) -> None:
        if step == 3:
            raise Crash

    with pytest.raises(Crash):
        train(cfg, pivots, tmp_path / "b", on_step_end=crash_at_3)  # checkpoint at 2, crash after 3
    assert [r["step"] for r in read_metrics(tmp_path / "b" / "metrics.jsonl")] == [1, 2, 3]
    train(cfg, pivots, tmp_path / "b", resume=True)
    a = load_file(str(tmp_path / "a" / "final" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "final" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows_a = read_metrics(tmp_path / "a" / "metrics.jsonl")
    rows_b = read_metrics(tmp_path / "b" / "metrics.jsonl")
    assert [r["step"] for r in rows_b] == [1, 2, 3, 4]  # step 3 redone once, not duplicated
    strip = [{k: v for k, v in r.items() if k not in TIMING} for r in (*rows_a, *rows_b)]
    assert strip[:4] == strip[4:]


def test_resume_refuses_a_changed_config_and_a_fresh_start_refuses_an_existing_run(
    toy, tiny_model_path, tmp_path
) -> None:
    from pivotrl_core.errors import ConfigError

    pivots = write_pivots(tmp_path / "p.jsonl")
    train(config(tiny_model_path, max_steps=1), pivots, tmp_path / "r")
    with pytest.raises(ConfigError, match="--resume"):
        train(config(tiny_model_path, max_steps=1), pivots, tmp_path / "r")
    with pytest.raises(ConfigError, match="lr"):
        train(config(tiny_model_path, max_steps=2, lr=1e-2), pivots, tmp_path / "r", resume=True)


def test_top_n_layers_trains_only_the_top(toy, tiny_model_path, tmp_path) -> None:
    pivots = write_pivots(tmp_path / "p.jsonl")
    result = train(config(tiny_model_path, train_top_n_layers=1, max_steps=1), pivots, tmp_path / "r")
    before = load_file(str(Path(tiny_model_path) / "model.safetensors"))
    after = load_file(str(result.final / "model.safetensors"))
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("model.layers.1.", "model.norm")) for k in changed)


def test_lora_with_kl_to_the_reference(toy, tiny_model_path, tmp_path) -> None:
    pivots = write_pivots(tmp_path / "p.jsonl")
    result = train(config(tiny_model_path, lora=True, lora_r=4, kl_beta=0.1, lr=1e-2), pivots, tmp_path / "r")
    rows = read_metrics(tmp_path / "r" / "metrics.jsonl")
    assert all(r["kl_ref"] is not None and r["kl_ref"] >= 0 for r in rows)
    assert rows[-1]["kl_ref"] > 0  # the adapters moved the policy away from pi_0
    after = load_file(str(result.final / "model.safetensors"))
    assert not any("lora" in k for k in after)  # merged into plain weights


def test_pivot_refresh_reselects_from_the_pool(toy, tiny_model_path, tmp_path) -> None:
    pivots = write_pivots(tmp_path / "p.jsonl", domain="toy-easy", n=4)  # every group is flat
    pool = write_pivots(write_pivots(tmp_path / "pool.jsonl", domain="toy-easy", n=4), domain="toy", n=6)
    cfg = config(
        tiny_model_path,
        max_steps=4,
        refresh=True,
        refresh_window=2,
        refresh_threshold=0.5,
        refresh_cooldown=0,
        refresh_k=8,
        refresh_pool=str(pool),
        max_new_tokens=8,
    )
    train(cfg, pivots, tmp_path / "r")
    rows = read_metrics(tmp_path / "r" / "metrics.jsonl")
    assert rows[0]["frac_zero_variance"] == 1.0 and "refresh_kept" not in rows[0]
    assert rows[1]["refresh_applied"] and rows[1]["refresh_profiled"] == 10
    profiles = [
        json.loads(x) for x in (tmp_path / "r" / "refreshes" / "step-000002.jsonl").read_text().splitlines()
    ]
    kept = {p["candidate_id"] for p in profiles if p["std"] > 0 and p["mean"] < 0.6}
    assert rows[1]["refresh_kept"] == len(kept) > 0 and all(
        k.startswith("toy-") and "easy" not in k for k in kept
    )
    assert rows[2]["n_pivots"] == len(kept) and rows[2]["frac_zero_variance"] < 1.0


def test_cli_train_and_bad_config(toy, tiny_model_path, tmp_path) -> None:
    from pivotrl_core.cli import build_cli

    pivots = write_pivots(tmp_path / "p.jsonl")
    cli = build_cli()
    sets = [
        "--set",
        f"model={json.dumps(tiny_model_path)}",
        "--set",
        "max_steps=1",
        "--set",
        "group_size=2",
        "--set",
        "max_new_tokens=4",
        "--set",
        "progress=false",
        "--set",
        "tensorboard=false",
    ]
    ok = CliRunner().invoke(cli, ["train", str(pivots), *sets, "-o", str(tmp_path / "r")])
    assert ok.exit_code == 0, ok.output
    assert (tmp_path / "r" / "final" / "config.json").exists()
    bad = CliRunner().invoke(cli, ["train", str(pivots), "--set", "group_size=1", "-o", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "group_size" in bad.output and "--set group_size=8" in bad.output
    assert not (tmp_path / "x").exists()


def test_bad_pivots_row_names_file_line_and_field(toy, tiny_model_path, tmp_path) -> None:
    from pivotrl_core.errors import InputError

    pivots = write_pivots(tmp_path / "p.jsonl", n=2)
    with pivots.open("a") as fh:
        fh.write(
            json.dumps(
                {
                    "id": "x",
                    "domain": "toy",
                    "trajectory_id": "t",
                    "turn_index": "2",
                    "messages": [],
                    "expected": {"role": "assistant", "content": "hi"},
                }
            )
            + "\n"
        )
    with pytest.raises(InputError) as e:
        train(config(tiny_model_path), pivots, tmp_path / "r")
    assert e.value.line == 3 and e.value.field == "turn_index" and str(pivots) in str(e.value)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_grpo_step_on_smollm2(toy, tmp_path) -> None:
    """The real SmolLM2: a step trains the top layers only, with a consistent sampler and loss."""
    from pivotrl_core.policies.models import resolve_model

    model_path = resolve_model("smollm2-135m")
    pivots = write_pivots(tmp_path / "p.jsonl", n=2)
    cfg = config(
        model_path, train_top_n_layers=2, group_size=4, max_new_tokens=12, max_steps=1, lr=1e-4, ppo_epochs=2
    )
    result = train(cfg, pivots, tmp_path / "r")
    (row,) = read_metrics(tmp_path / "r" / "metrics.jsonl")
    assert row["samples"] == 8 and row["tokens_sampled"] > 0 and row["entropy"] > 0
    # first pass: ratio 1 up to float error, so the KL to pi_old is tiny and little is clipped
    assert 0 <= row["kl_old"] < 0.05 and row["clip_frac"] < 0.5
    before = load_file(str(Path(model_path) / "model.safetensors"))
    after = load_file(str(result.final / "model.safetensors"))
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    if row["updates"]:
        assert changed and all(
            k.startswith(("model.layers.28.", "model.layers.29.", "model.norm")) for k in changed
        )
    else:  # both groups flat: nothing may change
        assert not changed


# -- block-wise frozen-layer prefill (policies/prefix_cache.py) ---------------------------------------------

LONG_SYSTEM = "Follow the policy. " * 40  # well over two blocks of the tiny tokenizer


@pytest.fixture(scope="module")
def tiny_model(tiny_model_path):
    from pivotrl_core.policies.models import load_model

    return load_model(tiny_model_path).eval()


def _prompt(n: int, seed: int, vocab: int) -> list[int]:
    return torch.randint(1, vocab, (n,), generator=torch.Generator().manual_seed(seed)).tolist()


@torch.no_grad()
def test_block_prefill_equals_one_full_pass(tiny_model) -> None:
    from transformers import DynamicCache

    model = tiny_model
    ids = _prompt(2 * BLOCK + 37, 0, model.config.vocab_size)
    got = prefill_frozen(model, "cache", 1, ids, BlockStore())
    keys, values, logits = prefill_split(model, "cache", 1, ids, BlockStore())
    cache = DynamicCache(config=model.config)
    out = model(input_ids=torch.tensor([ids]), use_cache=True, output_hidden_states=True, cache=cache)
    assert torch.allclose(logits, out.logits[0, -1], atol=1e-5)
    assert torch.allclose(got.h, out.hidden_states[1][0], atol=1e-5)  # entering layer 1
    assert len(got.k) == 1 and len(keys) == len(cache.layers)
    for i, layer in enumerate(cache.layers):
        assert keys[i].shape == layer.keys[0].shape
        assert torch.allclose(keys[i], layer.keys[0], atol=1e-5)
        assert torch.allclose(values[i], layer.values[0], atol=1e-5)


@torch.no_grad()
def test_a_prompt_gets_the_same_bits_whatever_was_prefilled_before(tiny_model) -> None:
    model, vocab = tiny_model, tiny_model.config.vocab_size
    shared_start = _prompt(3 * BLOCK + 10, 1, vocab)
    a, b = shared_start + _prompt(40, 2, vocab), shared_start + _prompt(90, 3, vocab)
    cold = prefill_split(model, "cache", 1, b, BlockStore())
    store = BlockStore()
    prefill_split(model, "cache", 1, a, store)
    assert store.hits == 0 and len(store) == 3  # a's three full blocks
    warm = prefill_split(model, "cache", 1, b, store)
    assert store.hits == 3  # b reuses them; its 4th block differs from a's
    assert torch.equal(warm[2], cold[2])
    assert all(torch.equal(x, y) for x, y in zip([*warm[0], *warm[1]], [*cold[0], *cold[1]], strict=True))


def test_the_block_store_evicts_the_least_recently_used_within_its_budget() -> None:
    def block() -> Block:
        return Block([torch.zeros(10)], [torch.zeros(10)], torch.zeros(5))  # 100 bytes

    store = BlockStore(max_bytes=250)
    store.put((1,), block())
    store.put((2,), block())
    assert store.get((1,)) is not None  # (2,) is now the least recently used
    store.put((3,), block())
    assert store.bytes == 200 and store.get((2,)) is None
    assert store.get((1,)) is not None and store.get((3,)) is not None
    store.put((4,), Block([torch.zeros(100)], [], torch.zeros(0)))  # larger than the budget: not kept
    assert store.get((4,)) is None and store.bytes == 200


def test_sampling_twice_reuses_the_frozen_layers_and_draws_the_same_samples(
    toy, tiny_model_path, tmp_path
) -> None:
    from pivotrl_core.train.data import load_candidates

    model, tok = build_model(config(tiny_model_path, train_top_n_layers=1))
    frozen = BlockStore()
    policy = make_policy(model, tok, 1024, boundary=1, frozen=frozen)
    cands = load_candidates(write_pivots(tmp_path / "p.jsonl", n=3, system=LONG_SYSTEM))
    sampling = SamplingParams(max_new_tokens=6, seed=5)
    first = _sample(policy, cands, 4, sampling)
    assert len(first[0].prompt_ids) > 2 * BLOCK and frozen.hits > 0  # the pivots share the system prompt
    hits, misses = frozen.hits, frozen.misses
    again = _sample(policy, cands, 4, sampling)
    assert frozen.misses == misses and frozen.hits > hits  # every full block was kept
    plain = _sample(make_policy(model, tok, 1024, boundary=1), cands, 4, sampling)
    for x, y, z in zip(first, again, plain, strict=True):
        assert (
            [c.token_ids for c in x.completions]
            == [c.token_ids for c in y.completions]
            == [c.token_ids for c in z.completions]
        )
        assert torch.equal(x.h_prompt, y.h_prompt) and torch.equal(x.h_prompt, z.h_prompt)


def test_the_frozen_block_cache_changes_no_bit_of_training(
    toy, tiny_model_path, tmp_path, monkeypatch
) -> None:
    import pivotrl_core.train.run_state as run_state

    stores: dict[int, list[BlockStore]] = {}

    class RecordedStore(BlockStore):  # the real store, recorded so the test can see it was used
        def __init__(self, max_bytes: int | None = None) -> None:
            super().__init__(max_bytes)
            stores[mb].append(self)

    monkeypatch.setattr(run_state, "BlockStore", RecordedStore)
    pivots = write_pivots(tmp_path / "p.jsonl", n=3, system=LONG_SYSTEM)
    runs = {}
    for mb in (1024, 0):
        stores[mb] = []
        out = tmp_path / f"cache-{mb}"
        train(config(tiny_model_path, max_steps=3, train_top_n_layers=1, frozen_cache_mb=mb), pivots, out)
        runs[mb] = (
            load_file(str(out / "final" / "model.safetensors")),
            [{k: v for k, v in r.items() if k not in TIMING} for r in read_metrics(out / "metrics.jsonl")],
        )
    assert [s.max_bytes for s in stores[1024]] == [1024 << 20] and stores[1024][
        0
    ].hits > 0  # the cache served blocks
    assert stores[0] == []  # frozen_cache_mb = 0: no store at all
    (a, rows_a), (b, rows_b) = runs[1024], runs[0]
    assert all(torch.equal(a[k], b[k]) for k in a) and rows_a == rows_b
    assert any(r["reward_std"] > 0 for r in rows_a)  # the steps had something to learn from


def test_prefix_attention_equals_attention_over_each_rows_own_sequence() -> None:
    """Rows of prompts of different lengths (left-padded), some prompts without live rows, a
    sliding window and soft-capping: each row's output is plain attention over its own sequence."""
    torch.manual_seed(0)
    Hkv, r, D, S, Lq, W, cap = 2, 3, 8, 5, 2, 9, 5.0
    lengths, counts = [7, 3, 11], [2, 0, 3]  # prompt 1 has no live row left
    L = max(lengths)
    pk, pv = torch.randn(3, Hkv, L, D), torch.randn(3, Hkv, L, D)
    valid = torch.tensor([[j >= L - n for j in range(L)] for n in lengths])
    R = sum(counts)
    owner = [b for b, c in enumerate(counts) for _ in range(c)]
    q, sk, sv = torch.randn(R, Hkv * r, Lq, D), torch.randn(R, Hkv, S, D), torch.randn(R, Hkv, S, D)
    layer = type("Layer", (), {"layer_idx": 0})()
    prefix = PrefixKV([pk], [pv], valid, torch.tensor(owner))
    got, _ = prefix_attention(
        layer, q, sk, sv, None, 0.3, sliding_window=W, softcap=cap, pivotrl_prefix=prefix
    )
    for row, b in enumerate(owner):  # plain attention of the row's queries over its whole sequence
        n = lengths[b]
        keys = torch.cat([pk[b][:, L - n :], sk[row]], dim=1).repeat_interleave(r, dim=0)  # (Hq, n + S, D)
        vals = torch.cat([pv[b][:, L - n :], sv[row]], dim=1).repeat_interleave(r, dim=0)
        s = q[row] @ keys.transpose(1, 2) * 0.3  # (Hq, Lq, n + S)
        s = torch.tanh(s / cap) * cap
        qpos = n + S - Lq + torch.arange(Lq)[:, None]
        kpos = torch.arange(n + S)[None, :]
        s = s.masked_fill(~((kpos <= qpos) & (qpos - kpos < W)), float("-inf"))
        want = (torch.softmax(s, dim=-1) @ vals).transpose(0, 1)  # (Lq, Hq, D)
        assert torch.allclose(got[row], want, atol=1e-6)
