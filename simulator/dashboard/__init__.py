"""The dashboard: a browser page on Mesa's SolaraViz to change levers, watch, compare and save.

The modules without a user interface (:mod:`levers`, :mod:`view`, :mod:`compare`)
import only the model side; :mod:`app` is the Solara page and :mod:`server`
starts it, offline. The model never imports this package.
"""
