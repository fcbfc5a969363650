"""Engines for tests, plugged in the way an operator plugs another engine ("module:Class")."""

import time

from rooms.audio.speech import Word


class SlowEngine:
    """Takes 5 s for every stretch of speech, longer than any sentence it is given: far slower than real
    time, to prove that nothing waits for it."""

    name = "slow"
    label = "A deliberately slow engine"
    SECONDS = 5.0

    def transcribe(self, audio):
        time.sleep(self.SECONDS)
        return [Word(" slow", 0.0, min(0.5, len(audio) / 16_000))]
