"""Calibration: sourced targets and history matching of scenario settings (``secsim calibrate``).

Modules, bottom to top: :mod:`targets` (observed figures and their sources),
:mod:`spec` (calibration files), :mod:`history` (emulators and implausibility),
:mod:`report` (fit table, overlay, figure) and :mod:`runner` (the waves, run
through the batch machinery).
"""
