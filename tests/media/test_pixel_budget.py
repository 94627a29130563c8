"""The decoded-pixel budget: decodes that together pass one cap wait their turn, in order."""

from __future__ import annotations

import threading

from vangnet.media.limits import PixelBudget


def test_decodes_over_the_budget_wait_in_order() -> None:
    budget = PixelBudget()
    order: list[str] = []
    first_in = threading.Event()
    release_first = threading.Event()

    def decode(name: str, pixels: int, hold: threading.Event | None = None) -> None:
        with budget.hold(pixels, total=100):
            order.append(name)
            if hold is not None:
                first_in.set()
                assert hold.wait(5)

    first = threading.Thread(target=decode, args=("big", 80, release_first))
    first.start()
    assert first_in.wait(5)
    waiting = [threading.Thread(target=decode, args=(n, p)) for n, p in (("b", 30), ("c", 10))]
    for thread in waiting:
        thread.start()
        thread.join(0.2)  # "b" does not fit beside "big"; "c" would, but queues behind "b"
    assert order == ["big"] and budget.held == 80
    release_first.set()
    for thread in (first, *waiting):
        thread.join(5)
        assert not thread.is_alive()
    assert order == ["big", "b", "c"] and budget.held == 0


def test_one_picture_over_the_budget_passes_alone() -> None:
    budget = PixelBudget()
    with budget.hold(500, total=100):
        assert budget.held == 500
    assert budget.held == 0
