"""The background recorder: flushes written in order off the main thread; a failure reaches the main thread."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from activate.engine.background import BackgroundRecorder


def test_flushes_are_written_in_order_on_another_thread() -> None:
    written: list[tuple[str, list[int]]] = []

    def write(items: Sequence[int]) -> None:
        written.append((threading.current_thread().name, list(items)))

    recorder: BackgroundRecorder[int] = BackgroundRecorder(write, name="rec")
    for start in range(0, 50, 5):
        recorder.submit(list(range(start, start + 5)))
    recorder.drain()
    recorder.close()
    assert [items for _, items in written] == [list(range(s, s + 5)) for s in range(0, 50, 5)]
    assert {name for name, _ in written} == {"rec"}


def test_a_failure_is_raised_on_the_main_thread_and_later_flushes_are_not_written() -> None:
    written: list[list[int]] = []

    def write(items: Sequence[int]) -> None:
        if items[0] == 2:
            raise OSError("state store gone")
        written.append(list(items))

    recorder: BackgroundRecorder[int] = BackgroundRecorder(write)
    recorder.submit([1])
    recorder.submit([2])
    with pytest.raises(OSError, match="state store gone"):
        recorder.drain()
    recorder.submit([3])
    recorder.drain()
    recorder.close()
    assert written == [[1]]
