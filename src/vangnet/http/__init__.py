"""What the two HTTP doors share: the services of a server process and the per-request
dependencies (`deps`), per-key request rates (`quotas`) and the live event feed (`feed`).

`vangnet.api` (the JSON API and the server that mounts the UI) and `vangnet.web` (the UI) both
build on this package; neither imports the other's internals through it.
"""
