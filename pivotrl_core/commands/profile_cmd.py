"""``pivotrl profile``: K local rollouts per candidate from a frozen policy (docs/profiling.md)."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import ConfigError
from ..plugins import get_registry
from ..policies.base import SamplingParams
from ..profile import ProfileConfig, profile_candidates
from ..profile_ray import profile_ray
from ._options import (
    DEVICE,
    DTYPE,
    FRACTION,
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    SEED,
    TOP_P,
    check_device,
    check_io,
    parse_kv,
    resume_options,
)

__all__ = ["COMMANDS", "build_policy", "parse_options"]

#: Prompts whose prefill the ``hf`` policy keeps (at least): candidates of one trajectory share
#: prefixes, and ``--early-stop`` rounds re-sample the same prompts. Set at construction.
PREFIX_CACHE = 8


def parse_options(pairs: tuple[str, ...], flag: str) -> dict[str, Any]:
    """``("a=1", "b=x")`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON when they parse)."""
    return parse_kv(pairs, flag=flag, syntax="json")


def build_policy(name: str, model: str, options: dict[str, Any]) -> Any:
    """Build a registered policy, turning a wrong option into a ConfigError that says so."""
    factory = get_registry().get("policy", name)
    try:
        return factory(model=model, **{k: v for k, v in options.items() if v is not None})
    except TypeError as e:
        raise ConfigError(
            f"policy '{name}' rejected its options ({e}); check --policy-option names"
        ) from None


def _policy_options(
    policy: str, batch_size: int, k: int, opts: dict[str, Any], **given: Any
) -> dict[str, Any]:
    options = {key: v for key, v in given.items() if v is not None}
    if policy == "hf":
        options.setdefault("batch_size", batch_size * k)  # decode rows: candidates x k
        options.setdefault("prefix_cache", max(PREFIX_CACHE, 2 * batch_size))  # frozen model: shared prefixes
    options.update(opts)
    return options


def _profile_config(flags: dict[str, Any]) -> ProfileConfig:
    """The :class:`ProfileConfig` of ``pivotrl profile``'s flags."""
    f = flags
    sampling = SamplingParams(
        temperature=f["temperature"], top_p=f["top_p"], max_new_tokens=f["max_new_tokens"], seed=f["seed"]
    )
    return ProfileConfig(
        k=f["k"],
        sampling=sampling,
        domain=f["domain"],
        verifier=f["verifier"],
        verifier_options=parse_options(f["verifier_option"], "--verifier-option"),
        batch_size=f["batch_size"],
        save_samples=f["save_samples"],
        early_stop=f["early_stop"],
        max_mean=f["max_mean"],
        min_chunk=f["early_stop_min_chunk"],
        limit=f["limit"],
        retry_errored=f["retry_errored"],
    )


@click.command("profile")
@click.argument("candidates", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Profiles JSONL (appended; resumable).",
)
@click.option(
    "--policy", default="hf", show_default=True, help="Rollout backend: hf, openai, vllm or a plugin's."
)
@click.option("--model", required=True, help="Model name, folder or hub id (built-in: smollm2-135m).")
@click.option("--k", "k", default=8, show_default=True, type=POSITIVE_INT, help="Samples per candidate.")
@click.option("--domain", default=None, help="Use this domain's verifier for every candidate.")
@click.option("--verifier", default=None, help="Use this verifier (by name) instead of the domain's.")
@click.option(
    "--verifier-option", multiple=True, metavar="KEY=VALUE", help="Option for --verifier (repeatable)."
)
@click.option("--temperature", default=1.0, show_default=True, type=POSITIVE_FLOAT, help="> 0.")
@click.option("--top-p", default=1.0, show_default=True, type=TOP_P, help="In (0, 1].")
@click.option("--max-new-tokens", default=256, show_default=True, type=POSITIVE_INT)
@click.option("--seed", default=0, show_default=True, type=SEED, help="Sampling seed (per-prompt streams).")
@click.option(
    "--batch-size", default=4, show_default=True, type=POSITIVE_INT, help="Candidates sampled together."
)
@click.option("--save-samples", is_flag=True, help="Keep the sampled messages in each row.")
@click.option(
    "--early-stop", is_flag=True, help="Stop sampling a candidate once the filter's outcome is certain."
)
@click.option(
    "--max-mean",
    default=0.6,
    show_default=True,
    type=FRACTION,
    help="Lambda of the filter (for --early-stop).",
)
@click.option(
    "--early-stop-min-chunk", default=None, type=POSITIVE_INT, help="Fewest samples per round (default k/4)."
)
@click.option("--limit", default=None, type=NON_NEGATIVE_INT, help="Profile only the first N candidates.")
@click.option("--device", default=None, type=DEVICE, help="hf: cpu, cuda, cuda:1 ...")
@click.option("--dtype", default=None, type=DTYPE, help="hf/vllm: float32, bfloat16 ...")
@click.option(
    "--context-rule",
    type=click.Choice(["truncate", "skip"]),
    default=None,
    help="Prompts over the context: drop oldest turns (default) or skip them.",
)
@click.option(
    "--max-prompt-tokens",
    default=None,
    type=POSITIVE_INT,
    help="Prompt token limit (default: context - max new tokens).",
)
@click.option(
    "--policy-option",
    multiple=True,
    metavar="KEY=VALUE",
    help="Backend option, e.g. base_url=... (repeatable).",
)
@click.option(
    "--retry-errored",
    default=2,
    show_default=True,
    type=NON_NEGATIVE_INT,
    help="On resume, redo a row with errored samples at most this many more times.",
)
@click.option("--progress/--no-progress", default=True, help="Show the progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's counts as JSON on stdout.")
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[ADDRESS]",
    help="Shard over Ray actors: a local cluster, or ADDRESS (auto, ray://...). See `pivotrl help scaling`.",
)
@click.option(
    "--ray-actors", default=2, show_default=True, type=POSITIVE_INT, help="--ray: actors (policies)."
)
@resume_options
def profile_command(
    candidates: str,
    output: str,
    policy: str,
    model: str,
    k: int,
    domain: str | None,
    verifier: str | None,
    verifier_option: tuple[str, ...],
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    seed: int,
    batch_size: int,
    save_samples: bool,
    early_stop: bool,
    max_mean: float,
    early_stop_min_chunk: int | None,
    limit: int | None,
    device: str | None,
    dtype: str | None,
    context_rule: str | None,
    max_prompt_tokens: int | None,
    policy_option: tuple[str, ...],
    retry_errored: int,
    progress: bool,
    as_json: bool,
    ray_address: str | None,
    ray_actors: int,
    resume_mode: str,
) -> None:
    """Sample K next turns per candidate with a frozen policy and score them.

    Rows are appended to OUTPUT as candidates finish; re-running the same command skips the
    candidates already there (kill -9 safe), only with the same settings (--fresh starts over,
    --force-resume keeps the rows anyway); rows with errored samples are redone (--retry-errored).
    """
    config = _profile_config(dict(locals()))
    check_io(output, [candidates])
    check_device(device)
    registry = get_registry()
    registry.entry("policy", policy)  # "did you mean" before loading a model
    given = {
        "device": device,
        "dtype": dtype,
        "context_rule": context_rule,
        "max_prompt_tokens": max_prompt_tokens,
    }
    opts = parse_options(policy_option, "--policy-option")
    if ray_address is not None:  # shards over Ray actors, each building its own policy
        return _profile_on_ray(dict(locals()), config, _policy_options(policy, batch_size, k, opts, **given))
    pol = build_policy(policy, model, _policy_options(policy, batch_size, k, opts, **given))
    try:
        stats = profile_candidates(
            candidates, output, pol, config, registry=registry, progress=progress, resume_mode=resume_mode
        )
    finally:
        pol.close()
    _report(stats.to_dict(), output, as_json)


def _profile_on_ray(f: dict[str, Any], config: ProfileConfig, options: dict[str, Any]) -> None:
    """``--ray``: :func:`~pivotrl_core.profile_ray.profile_ray` with the command's flags (one GPU
    per actor for ``--device cuda`` and ``vllm``: Ray hides GPUs from actors that ask for none)."""
    stats = profile_ray(
        f["candidates"],
        f["output"],
        f["policy"],
        f["model"],
        options,
        config,
        address=f["ray_address"],
        actors=f["ray_actors"],
        num_gpus=1.0 if str(f["device"] or "").startswith("cuda") or f["policy"] == "vllm" else 0.0,
        progress=f["progress"],
        resume_mode=f["resume_mode"],
    )
    _report(stats.to_dict(), f["output"], f["as_json"])


def _report(d: dict[str, Any], output: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    click.echo(
        f"profiled {d['profiled']} candidates ({d['already_done']} already done, "
        f"{d['retried']} redone for errored samples) -> {output}\n"
        f"  samples {d['samples']} ({d['errored_samples']} errored), {d['samples_per_s']} samples/s, "
        f"{d['new_tokens']} new tokens, {d['seconds']:.1f} s\n"
        f"  context: {d['truncated']} truncated, {d['skipped_context']} skipped\n"
        f"  early stop: {d['early_decided']} decided early, {d['samples_saved']} samples saved",
        err=True,
    )


COMMANDS = [profile_command]
