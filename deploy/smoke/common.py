"""What every step of the smoke test uses: the project's root, the failure it raises, its timer."""

from __future__ import annotations

import time

from deploy import harness

ROOT = harness.ROOT


class SmokeFailure(AssertionError):
    pass


def check(condition, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


class Timer:
    def __init__(self) -> None:
        self.start = time.monotonic()
        self.last = self.start
        self.steps: dict[str, float] = {}

    def step(self, name: str) -> None:
        now = time.monotonic()
        self.steps[name] = round(now - self.last, 2)
        self.last = now
        print(f"smoke: {name} ({self.steps[name]:.1f} s)", flush=True)
