"""A text progress bar for benchmark sweeps (no dependency).

On a terminal the bar redraws in place on stderr (``[#####.....] 12/48 25% 0:12 elapsed, ETA 0:36 | label``);
elsewhere (CI logs, captured output) it prints one line per step, so logs stay readable.

>>> import io
>>> out = io.StringIO()
>>> bar = Progress(2, "decode", stream=out)
>>> bar.step("M=1 4096x4096")
>>> bar.step("M=2 4096x4096")
>>> bar.close()
>>> print(out.getvalue().splitlines()[-1].split(" | ")[-1])
M=2 4096x4096
"""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """``total`` steps of a sweep named ``desc``; call ``step(label)`` after each, ``close()`` at the end."""

    def __init__(self, total: int, desc: str = "", *, stream=None, width: int = 30):
        self.total, self.desc, self.width = max(int(total), 1), desc, width
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.t0 = time.monotonic()

    def line(self, label: str = "") -> str:
        frac = self.done / self.total
        fill = int(round(frac * self.width))
        elapsed = time.monotonic() - self.t0
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        text = (f"{self.desc} [{'#' * fill}{'.' * (self.width - fill)}] {self.done}/{self.total} {frac:4.0%} "
                f"{_clock(elapsed)} elapsed, ETA {_clock(eta)}")
        return text + (f" | {label}" if label else "")

    def step(self, label: str = "") -> None:
        self.done = min(self.done + 1, self.total)
        if self.tty:
            self.stream.write("\r\033[K" + self.line(label))
        else:
            self.stream.write(self.line(label) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
