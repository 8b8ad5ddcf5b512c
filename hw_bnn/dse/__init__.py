"""Design-space search: the cost of a folded pipeline and the PE/SIMD folding that fits a goal.

Never imports torch or the training stack (a contract of ``lint-imports``): the search runs on
the matrix units of a compiled integer network, or on shapes given by hand.

================  ========================================================================
``units``         the matrix-vector units of an integer network; legal foldings; cycles
``cost``          the FINN-R resource model (LUT, BRAM18, DSP) and the pipeline's speed
``devices``       the FPGA catalogue and the fit of an estimate on a device
``folding``       exact searches: fewest LUTs for a cycle target, fastest within a budget;
                  the greedy ``SetFolding``-style baseline
``plan``          one goal solved by the search and by the baseline, side by side
``folding_file``  ``folding.json``, as ``hw-bnn fold`` writes it and ``--folding`` reads it
================  ========================================================================

The ``hw-bnn fold`` command is :mod:`hw_bnn.explore.fold_cli` (it may fold an untrained recipe
network, which needs torch).
"""
