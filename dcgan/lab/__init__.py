"""Lab: what the notebooks use: parameters cells (cell), reruns (rerun), runs side by side (runs, compare),
watching a run (watch, runstate, background), the explorer and animations.

Owns: the notebook-facing pieces. May import: everything. Nothing imports it but itself, the CLI and the
package's public API (dcgan/__init__.py).
"""
