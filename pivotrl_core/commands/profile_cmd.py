"""``pivotrl profile``: K local rollouts per candidate from a frozen policy (docs/profiling.md)."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import ConfigError

__all__ = ["COMMANDS", "build_policy", "parse_options"]


def parse_options(pairs: tuple[str, ...], flag: str) -> dict[str, Any]:
    """``("a=1", "b=x")`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON when they parse)."""
    out: dict[str, Any] = {}
    for p in pairs:
        if "=" not in p:
            raise ConfigError(
                f"{flag} takes KEY=VALUE, got {p!r} (e.g. {flag} base_url=http://127.0.0.1:8000/v1)"
            )
        key, value = p.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def build_policy(name: str, model: str, options: dict[str, Any]) -> Any:
    """Build a registered policy, turning a wrong option into a ConfigError that says so."""
    from ..registry import get_registry

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
        from ..policies.prefix_store import DEFAULT_PREFIX_CACHE

        options.setdefault(
            "prefix_cache", max(DEFAULT_PREFIX_CACHE, 2 * batch_size)
        )  # candidates share prefixes (frozen model)
    options.update(opts)
    return options


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
@click.option("--k", "k", default=8, show_default=True, type=int, help="Samples per candidate.")
@click.option("--domain", default=None, help="Use this domain's verifier for every candidate.")
@click.option("--verifier", default=None, help="Use this verifier (by name) instead of the domain's.")
@click.option(
    "--verifier-option", multiple=True, metavar="KEY=VALUE", help="Option for --verifier (repeatable)."
)
@click.option("--temperature", default=1.0, show_default=True, type=float)
@click.option("--top-p", default=1.0, show_default=True, type=float)
@click.option("--max-new-tokens", default=256, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int, help="Sampling seed (per-prompt streams).")
@click.option("--batch-size", default=4, show_default=True, type=int, help="Candidates sampled together.")
@click.option("--save-samples", is_flag=True, help="Keep the sampled messages in each row.")
@click.option(
    "--early-stop", is_flag=True, help="Stop sampling a candidate once the filter's outcome is certain."
)
@click.option(
    "--max-mean", default=0.6, show_default=True, type=float, help="Lambda of the filter (for --early-stop)."
)
@click.option(
    "--early-stop-min-chunk", default=None, type=int, help="Fewest samples per round (default k/4)."
)
@click.option("--limit", default=None, type=int, help="Profile only the first N candidates of the file.")
@click.option("--device", default=None, help="hf: cpu, cuda, cuda:1 ...")
@click.option("--dtype", default=None, help="hf/vllm: float32, bfloat16 ...")
@click.option(
    "--context-rule",
    type=click.Choice(["truncate", "skip"]),
    default=None,
    help="Prompts over the context: drop oldest turns (default) or skip them.",
)
@click.option(
    "--max-prompt-tokens",
    default=None,
    type=int,
    help="Prompt token limit (default: context - max new tokens).",
)
@click.option(
    "--policy-option",
    multiple=True,
    metavar="KEY=VALUE",
    help="Backend option, e.g. base_url=... (repeatable).",
)
@click.option("--progress/--no-progress", default=True, help="Show the progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's counts as JSON on stdout.")
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
    progress: bool,
    as_json: bool,
) -> None:
    """Sample K next turns per candidate with a frozen policy and score them.

    Rows are appended to OUTPUT as candidates finish; re-running the same command skips the
    candidates already there (kill -9 safe).
    """
    from ..policies.base import SamplingParams
    from ..profile import ProfileConfig, profile_candidates
    from ..registry import get_registry

    config = ProfileConfig(
        k=k,
        sampling=SamplingParams(
            temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, seed=seed
        ),
        domain=domain,
        verifier=verifier,
        verifier_options=parse_options(verifier_option, "--verifier-option"),
        batch_size=batch_size,
        save_samples=save_samples,
        early_stop=early_stop,
        max_mean=max_mean,
        min_chunk=early_stop_min_chunk,
        limit=limit,
    )
    get_registry().entry("policy", policy)  # "did you mean" before loading a model
    options = _policy_options(
        policy,
        batch_size,
        k,
        parse_options(policy_option, "--policy-option"),
        device=device,
        dtype=dtype,
        context_rule=context_rule,
        max_prompt_tokens=max_prompt_tokens,
    )
    pol = build_policy(policy, model, options)
    try:
        stats = profile_candidates(candidates, output, pol, config, progress=progress)
    finally:
        pol.close()
    _report(stats.to_dict(), output, as_json)


def _report(d: dict[str, Any], output: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(d, indent=2))
        return
    click.echo(
        f"profiled {d['profiled']} candidates ({d['already_done']} already done) -> {output}\n"
        f"  samples {d['samples']} ({d['errored_samples']} errored), {d['samples_per_s']} samples/s, "
        f"{d['new_tokens']} new tokens, {d['seconds']:.1f} s\n"
        f"  context: {d['truncated']} truncated, {d['skipped_context']} skipped\n"
        f"  early stop: {d['early_decided']} decided early, {d['samples_saved']} samples saved",
        err=True,
    )


COMMANDS = [profile_command]
