"""Evaluation: held-out turns, the domain's benchmark, and the OOD probe suite with KL.

Each part is usable alone (``docs/evaluation.md``):

* :mod:`.heldout` -- functional accuracy on held-out candidates through the one rollout path
  (:func:`~pivotrl_core.rollouts.sample_and_verify`), scored by the verifier the candidates were
  profiled with unless told otherwise;
* :mod:`.benchmark` -- the domain's benchmark adapter, ``Domain.benchmarks[name](policy, ...)``;
* :mod:`.ood` -- the OOD probes at run time: accuracy, retention and exact KL to pi_0
  (:mod:`.ood_build` builds the shipped probe file);
* :mod:`.suite` -- :func:`evaluate`, the parts asked for as one ``eval.json`` document, set by an
  :class:`EvalConfig`.
"""

from __future__ import annotations

from .benchmark import run_benchmark
from .config import EvalConfig
from .heldout import evaluate_candidates, evaluate_sets, mean_std
from .ood import Probe, answer_probes, evaluate_ood, load_probes, ood_kl
from .suite import build_eval_policy, evaluate

__all__ = [
    "EvalConfig",
    "Probe",
    "answer_probes",
    "build_eval_policy",
    "evaluate",
    "evaluate_candidates",
    "evaluate_ood",
    "evaluate_sets",
    "load_probes",
    "mean_std",
    "ood_kl",
    "run_benchmark",
]
