"""pivotrl-swe: the software-engineering domain (NVIDIA's swe_pivot verifier, SWE agent formats,
sandboxed repository tasks). ``docs/domains/swe.md`` is the guide."""

__version__ = "0.1.0"
