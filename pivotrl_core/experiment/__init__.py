"""``pivotrl experiment``: the paper's claims measured in miniature (``docs/results.md``).

:func:`~.runner.run_experiment` trains and evaluates every arm (base, SFT, PivotRL, the random-turn
and exact-match ablations, end-to-end RL) from the same pi_0, data and held-out sets, with
several training seeds, on ``pivotrl run``'s stage functions and stage engine;
:func:`~.table.write_table` writes the table and plots.
"""
