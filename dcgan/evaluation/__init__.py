"""Evaluation: feature spaces (features), the metrics computed in them (metrics), and a generator scored against
real images (evaluate).

Owns: how good a generator is, in numbers. May import: settings, data and the root's services; never training
or lab.
"""
