"""Benchmark the ``tau2`` verifier against tau2's own evaluator, one verdict at a time.

Candidates: tool-call turns of the real gpt-4o tau-bench airline trajectories
(``../shared/data/tau-bench``), imported and extracted as ``pivotrl tau2 import`` and
``pivotrl extract`` do. Each candidate is verified twice: its demonstrated call, and the call with
its first argument changed.

- **pivotrl**: ``Tau2Verifier`` (databases parsed once; one live environment moved between prefix
  states; a write is measured by a ``model_dump`` diff and undone).
- **tau2** (the peer): per verdict, tau2's ``EnvironmentEvaluator.calculate_reward`` with the
  environment constructor tau2's registry uses (``get_environment()``: parses ``db.json``), on a
  task whose gold actions are the prefix's calls plus the demonstrated call and a trajectory of
  the prefix's calls plus the verified call (tool messages prepared beforehand, not timed).

Both must agree on whether the databases match. Wall clock per verdict (the machine is shared;
the line below says how loaded it was). Results go to ``benchmarks/results/tau2_verifier.txt``.

    .venv/bin/python benchmarks/tau2_verifier.py [--candidates 12]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path
from typing import Any

from pivotrl_tau2.importers import import_file
from pivotrl_tau2.replay import calls_of, prefix_calls
from pivotrl_tau2.verifier import Tau2Verifier
from pivotrl_tau2.world import world

from pivotrl_core import ExtractOptions, Message, ToolCall, default_extractor, run_verifier

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "tau-bench" / "gpt-4o-airline.json"
RESULTS = ROOT / "benchmarks" / "results" / "tau2_verifier.txt"


def _changed(call: ToolCall) -> ToolCall:
    args = dict(call.arguments or {})
    if args:
        k = next(iter(args))
        args[k] = f"{args[k]}_x" if isinstance(args[k], str) else args[k]
    return ToolCall(call.name, args)


def _candidates(n: int) -> list[Any]:
    """Tool-call turns with a write in the prefix or the action, spread over trajectories."""
    w = world("tau2-airline")
    out = []
    for traj in import_file(DATA):
        for c in default_extractor(traj, ExtractOptions(domain="tau2-airline")):
            calls = [*prefix_calls(c), *calls_of(c.expected)]
            useful = c.expected.tool_calls and c.expected.tool_calls[0].name != "think"
            if useful and any(w.is_write(x.name) for x in calls):
                out.append(c)
                break
        if len(out) >= n:
            return out
    return out


def _tau2_verdict(c: Any, action: Message) -> tuple[bool, float]:
    """tau2's evaluator on (prefix + expected) as gold vs (prefix + action) as the trajectory."""
    from tau2.data_model.message import AssistantMessage, ToolMessage
    from tau2.data_model.message import ToolCall as TC
    from tau2.data_model.tasks import Action, EvaluationCriteria, RewardType, Task, UserScenario
    from tau2.domains.airline.environment import get_environment
    from tau2.evaluator.evaluator_env import EnvironmentEvaluator

    w = world("tau2-airline")
    prefix = [p for p in prefix_calls(c) if p.name in w.tool_types]
    gold = [*prefix, *[x for x in calls_of(c.expected) if x.name in w.tool_types]]
    pred = [*prefix, *[x for x in calls_of(action) if isinstance(x.arguments, dict)]]
    env = w.fresh()  # prepare the trajectory's tool outputs (not timed)
    msgs: list[Any] = []
    for i, call in enumerate(pred):
        tc = TC(id=f"c{i}", name=call.name, arguments=call.arguments)
        msgs += [AssistantMessage(role="assistant", tool_calls=[tc]), env.get_response(tc)]
    assert all(isinstance(m, (AssistantMessage, ToolMessage)) for m in msgs)
    actions = [Action(action_id=str(i), name=g.name, arguments=g.arguments) for i, g in enumerate(gold)]
    task = Task(
        id="bench",
        user_scenario=UserScenario(instructions="benchmark"),
        evaluation_criteria=EvaluationCriteria(actions=actions, reward_basis=[RewardType.DB]),
    )
    start = time.perf_counter()
    info = EnvironmentEvaluator.calculate_reward(
        environment_constructor=get_environment, task=task, full_trajectory=msgs
    )
    return bool(info.db_check.db_match), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=12)
    args = ap.parse_args()
    cands = _candidates(args.candidates)
    pairs = [
        (c, a)
        for c in cands
        for a in (c.expected, Message("assistant", tool_calls=(_changed(c.expected.tool_calls[0]),)))
    ]
    world("tau2-airline")  # parse the databases once, outside the timing (both sides need tau2 imported)
    v = Tau2Verifier(domain="tau2-airline")
    mine, ours_db = [], []
    for c, a in pairs:
        t = time.perf_counter()
        verdict = run_verifier(v, c, a)
        mine.append(time.perf_counter() - t)
        ours_db.append(bool(verdict.details.get("same_db")))
    peer, peer_db = [], []
    for c, a in pairs:
        same, seconds = _tau2_verdict(c, a)
        peer.append(seconds)
        peer_db.append(same)
    agree = sum(x == y for x, y in zip(ours_db, peer_db, strict=True))
    m, p = sum(mine) / len(mine), sum(peer) / len(peer)
    load = os.getloadavg()[0]
    lines = [
        f"tau2 verifier benchmark: {len(pairs)} verdicts ({len(cands)} airline tool-call candidates of "
        "the real gpt-4o tau-bench file, demonstrated call + first argument changed); "
        f"Python {platform.python_version()}, {os.cpu_count()} cores, load average {load:.1f} at the end "
        "(shared machine); wall clock",
        "",
        f"{'side':<58}{'s/verdict':>12}",
        f"{'pivotrl tau2 verifier (parsed once, live env, dump diff)':<58}{m:>12.3f}",
        f"{'tau2 EnvironmentEvaluator per verdict (get_environment)':<58}{p:>12.3f}",
        f"ratio (tau2 / pivotrl): {p / m:.1f}x; DB-match verdicts agree on {agree} of {len(pairs)}",
    ]
    text = "\n".join(lines) + "\n"
    print(text, end="")
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
