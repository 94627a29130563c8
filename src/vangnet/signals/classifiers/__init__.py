"""Classifiers: scoring plug-ins of the same kind as signal types.

A hash says "this is a known picture"; a classifier says "this picture is likely of a kind a
person should look at first". It never confirms, reports or banks anything: its scores order
the review queue, the triage workbench and live review-now alerts, always with the evidence
behind them. The interface and the registry are in `vangnet.signals.classifiers.base`.
"""
