"""Deterrence for searchers (issue 14, point 6): a platform's search box asks, before it
answers, whether a query matches a term list its operator supplies; if so it shows a warning
and a route to anonymous help instead of (or before) results.

`normalize` folds a query against obfuscation, `terms` loads and matches the operator's
lists, `help` holds the warning and help route per language, `counts` keeps aggregate
counts only (never a query), and `check` puts them together. See docs/deterrence.md.
"""
