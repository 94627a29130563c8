"""`python -m vangnet.cli.demo.server --port N`: the demo's server, `vangnet serve` on
127.0.0.1 in a process that dies with the demo (Linux), so that a demo killed with
``kill -9`` leaves no server serving on alone."""

from __future__ import annotations

import sys

from vangnet.children import die_with_parent


def main() -> None:
    die_with_parent()
    from vangnet.cli import main as vangnet

    sys.argv = ["vangnet", "serve", "--host", "127.0.0.1", *sys.argv[1:]]
    vangnet()


if __name__ == "__main__":
    main()
