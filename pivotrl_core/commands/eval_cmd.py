"""``pivotrl eval``: held-out accuracy, a domain benchmark and the OOD probe suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from ..eval import EvalConfig, evaluate
from ..jsonl import atomic_output
from ..plugins import get_registry
from ._options import NON_NEGATIVE_INT, POSITIVE_INT, TEMPERATURE, check_io, parse_kv


def _seeds(value: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in value.replace(" ", "").split(",") if s)
    except ValueError:
        raise ConfigError(
            f"--seeds {value!r} must be comma-separated integers, e.g. --seeds 1001,1002,1003"
        ) from None
    if not seeds:
        raise ConfigError("--seeds needs at least one seed, e.g. --seeds 0")
    if any(not 0 <= s < 2**32 for s in seeds):
        raise ConfigError(f"{value!r}: each seed must be in [0, 2**32)", flag="--seeds")
    return seeds


def _options(items: tuple[str, ...]) -> dict[str, Any]:
    return parse_kv(items, flag="--benchmark-option")


def summary_lines(doc: dict[str, Any]) -> list[str]:
    """One line per metric of an ``eval.json`` document (what the command prints)."""
    lines = [f"model: {doc.get('model')}"]
    held = doc.get("held_out")
    if held:
        s = held["summary"]
        for name, r in held["sets"].items():
            lines.append(
                f"held-out {name}: accuracy {_pct(r['accuracy'])} on {r['n_scored']} actions "
                f"({r['n_errored']} errored, {r['skipped']} skipped)"
            )
        lines.append(f"held-out mean: {_pct(s['mean'])} +- {_pct(s['std'])} over {s['n']} {s['over']}")
    bench = doc.get("benchmark")
    if bench:
        shown = {k: v for k, v in bench.items() if isinstance(v, (int, float, str)) and k != "name"}
        lines.append(f"benchmark {bench['name']}: " + ", ".join(f"{k}={_fmt(v)}" for k, v in shown.items()))
    ood = doc.get("ood")
    if ood:
        skills = ", ".join(f"{k} {_pct(v['accuracy'])}" for k, v in ood["by_skill"].items())
        lines.append(f"OOD: accuracy {_pct(ood['accuracy'])}, retention {_pct(ood['retention'])} ({skills})")
        if ood.get("kl"):
            lines.append(
                f"OOD KL(pi_theta || pi_0): {_fmt(ood['kl']['kl_per_token'])} nats/token "
                f"over {ood['kl']['n_tokens']} tokens"
            )
    return lines


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _eval_config(f: dict[str, Any]) -> EvalConfig:
    """The :class:`EvalConfig` of ``pivotrl eval``'s flags (``--seeds`` also go to the benchmark)."""
    seed_list = _seeds(f["seeds"]) if f["seeds"] is not None else None
    bench_options = _options(f["bench_opts"])
    if seed_list is not None:
        bench_options.setdefault("seeds", seed_list)
    return EvalConfig(
        temperature=f["temperature"],
        max_new_tokens=f["max_new_tokens"],
        n_samples=f["n_samples"],
        seeds=seed_list or (0,),
        limit=f["limit"],
        batch_size=f["batch_size"],
        benchmark=f["benchmark"],
        benchmark_options=bench_options,
        ood=f["ood"],
        ood_limit_per_skill=f["ood_limit"],
        verifier=f["verifier"],
        verifier_options=parse_kv(f["verifier_opts"], flag="--verifier-option", syntax="json"),
        progress=f["progress"],
    )


@click.command("eval")
@click.option(
    "--model", required=True, help="Model to evaluate: built-in name, folder (e.g. runs/x/final) or hub id."
)
@click.option(
    "--domain", default=None, help="Domain whose verifier and benchmark are used (default: each candidate's)."
)
@click.option(
    "--candidates",
    "candidates",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Held-out candidates JSONL (e.g. pivots.val.jsonl); repeat for several held-out sets.",
)
@click.option(
    "--benchmark", default=None, help="Run the domain's benchmark adapter of this name (e.g. episodes)."
)
@click.option(
    "--benchmark-option",
    "bench_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Option passed to the benchmark adapter (TOML value), e.g. n_tasks=10. Repeatable.",
)
@click.option(
    "--ood", is_flag=True, help="Run the OOD probe suite (accuracy, retention; KL with --reference)."
)
@click.option(
    "--ood-limit", type=NON_NEGATIVE_INT, default=None, help="Use only the first N probes of each OOD skill."
)
@click.option(
    "--reference", default=None, help="Reference model pi_0 for the OOD KL (usually the starting model)."
)
@click.option(
    "--seeds",
    default=None,
    help="Comma-separated seeds: sampling seeds of sampled held-out evaluation (default 0) and "
    "task seeds of the benchmark (default: the adapter's).",
)
@click.option(
    "--temperature",
    type=TEMPERATURE,
    default=0.0,
    show_default=True,
    help="Held-out sampling temperature (0 = greedy, one action per candidate).",
)
@click.option(
    "--n-samples", type=POSITIVE_INT, default=1, show_default=True, help="Actions per held-out candidate."
)
@click.option(
    "--max-new-tokens", type=POSITIVE_INT, default=96, show_default=True, help="Longest action in tokens."
)
@click.option(
    "--limit", type=NON_NEGATIVE_INT, default=None, help="Evaluate only the first N candidates of each file."
)
@click.option(
    "--batch-size",
    type=POSITIVE_INT,
    default=16,
    show_default=True,
    help="Sampling batch size (prompts x samples).",
)
@click.option(
    "--policy", default="hf", show_default=True, help="Rollout backend: hf, openai, vllm or a plugin's."
)
@click.option(
    "--policy-option",
    "policy_opts",
    multiple=True,
    metavar="KEY=VALUE",
    help="Backend option, e.g. base_url=... (repeatable).",
)
@click.option(
    "--verifier", default=None, help="Score held-out actions with this verifier (default: the pivots' own)."
)
@click.option(
    "--verifier-option", "verifier_opts", multiple=True, metavar="KEY=VALUE", help="Option for --verifier."
)
@click.option("--progress/--no-progress", default=True, help="Show progress bars on stderr.")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="Where to write eval.json."
)
def eval_command(
    model: str,
    domain: str | None,
    candidates: tuple[str, ...],
    benchmark: str | None,
    bench_opts: tuple[str, ...],
    ood: bool,
    ood_limit: int | None,
    reference: str | None,
    seeds: str | None,
    temperature: float,
    n_samples: int,
    max_new_tokens: int,
    limit: int | None,
    batch_size: int,
    policy: str,
    policy_opts: tuple[str, ...],
    verifier: str | None,
    verifier_opts: tuple[str, ...],
    progress: bool,
    output: str,
) -> None:
    """Evaluate a model: held-out turns, a domain benchmark, the OOD probes (docs/evaluation.md)."""
    check_io(output, list(candidates))  # before any work: eval runs long, then writes
    if domain is not None:
        get_registry().domain(domain)  # an unknown name fails before the model loads
    config = _eval_config(dict(locals()))
    registry = get_registry()
    registry.entry("policy", policy)  # "did you mean" before loading a model
    if verifier:
        registry.entry("verifier", verifier)
    doc = evaluate(
        model,
        config,
        registry=registry,
        domain=domain,
        candidates=list(candidates),
        reference=reference,
        policy=policy,
        policy_options=parse_kv(policy_opts, flag="--policy-option", syntax="json"),
    )
    with atomic_output(Path(output)) as fh:
        fh.write(json.dumps(doc, indent=2))
    for line in summary_lines(doc):
        click.echo(line)
    click.echo(f"wrote {output} ({doc['timing']['total_s']:.0f} s)")


COMMANDS = [eval_command]
