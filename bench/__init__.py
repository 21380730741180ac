"""Benchmarks: each measures a subject and its baseline in the same run and reports the ratio.

Absolute rates drift between runs and machines; the ratios are what to compare.
"""
