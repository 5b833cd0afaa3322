"""``pivotrl run``: the whole loop as library calls (``docs/pipeline.md``).

- :mod:`.engine`: the manifest and the stage runner (keys, skip, resume);
- :mod:`.config`: :class:`~.config.RunConfig`, one typed config made of the stages' own config classes;
- :mod:`.stages`: each stage as a call of the library function, and :func:`~.stages.run_pipeline`;
- :mod:`.command_lines`: the equivalent ``pivotrl ...`` command of each stage, recorded for humans;
- :mod:`.report`: ``report.md`` and the plots.
"""
