"""Design-space exploration on top of the search: sweeps, and the commands that need training.

``hw_bnn.dse`` holds the cost model and the exact folding search and never imports torch;
this package sits above the flow and may train networks.

=================  ========================================================================
``spec``           the sweep spec: keys, validation, expansion into network points
``point``          one network point: train, export, compile; fold, cost, fit, C-sim per
                   hardware point (``result.json``)
``engines``        serial or Ray execution of the points
``sweep``          :func:`run_sweep`: resume, run, table, and the files of a sweep folder
``results``        the table's columns, the Pareto fronts, CSV / parquet
``plots``          the Pareto plots (PNG)
``report``         ``report.md`` and ``report.html``
``records``        JSON records and the content keys that decide reuse
``recipe_shapes``  the matrix units of an untrained recipe network (torch)
``cli``            ``hw-bnn explore``
``fold_cli``       ``hw-bnn fold`` (a build's units, or a recipe's through ``recipe_shapes``)
=================  ========================================================================
"""
