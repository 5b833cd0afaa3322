"""Fault injection for the Ray profiling test (loaded through ``PIVOTRL_PLUGIN_FILES``): the
``hf-crash-once`` policy is the ``hf`` policy, except that the first process to sample kills
itself mid-task (as an OOM-killed or preempted actor would), leaving a marker file behind."""

from __future__ import annotations

import os
from pathlib import Path

from pivotrl_core import get_registry, hookimpl


class CrashOnce:
    name = "hf"  # the rows and the fingerprint must read like the hf policy's

    def __init__(self, model: str, marker: str, **options):  # noqa: ANN003, ANN204
        self.inner = get_registry().policy("hf", model=model, **options)
        self.marker = Path(marker)

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def sample(self, prompts, n, sampling):  # noqa: ANN001, ANN201
        if not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)
        return self.inner.sample(prompts, n, sampling)

    def close(self) -> None:
        self.inner.close()


@hookimpl
def pivotrl_register_policies(register):  # noqa: ANN001, ANN201
    register(CrashOnce, name="hf-crash-once")
