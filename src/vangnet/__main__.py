"""`python -m vangnet ...`: the same as the `vangnet` command."""

from vangnet.cli import main

main()
