"""Built-in domains: ``generic`` and ``search``, configured like NVIDIA's public configs.

Both use the ``tool_call`` verifier; only the word-overlap threshold for long string arguments
differs (NeMo Gym ``tool_call_comparator_config.word_count_similarity_threshold``):

- ``generic``: 0.1, NVIDIA's conversational tool-use and function-calling configs.
- ``search``: 0.3, NVIDIA's search-pivot config (web search agents, BrowseComp style).

The ``swe`` domain lives in the ``pivotrl-swe`` plugin (NVIDIA's ``swe_pivot`` verifier, SWE agent
trajectory formats, sandboxed repository tasks). NVIDIA's other SWE config,
``swe_pivot_single_step_tool_use_with_argument_comparison``, is the ``tool_call`` verifier at
threshold 0.0: ``--verifier tool_call --verifier-option threshold=0`` reproduces it.
"""

from __future__ import annotations

from ..domains import Domain
from ..hookspecs import Register, hookimpl

GENERIC = Domain(
    name="generic",
    description="Any agent data with tool calls; tool_call verifier as in NVIDIA's tool-use config (0.1).",
    verifier="tool_call",
    verifier_options={"threshold": 0.1},
    metadata={"nemo_gym_config": "single_step_tool_use_with_argument_comparison"},
)

SEARCH = Domain(
    name="search",
    description="Search agents; tool_call verifier as in NVIDIA's search-pivot config (0.3).",
    verifier="tool_call",
    verifier_options={"threshold": 0.3},
    metadata={"nemo_gym_config": "search_pivot_single_step_tool_use_with_argument_comparison"},
)


@hookimpl
def pivotrl_register_domains(register: Register) -> None:
    for domain in (GENERIC, SEARCH):
        register(domain)
