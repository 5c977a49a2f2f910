"""What `kim up` does with its service processes: start each, restart one that dies (with backoff, logged), and
give up only on a service that cannot start at all, again and again. Plain Python: the processes come from a
`spawn(name)` function, so tests drive it with stand-ins."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

#: a process that ran this long counts as started: its next death begins a fresh count
STABLE_SECONDS = 30.0
#: this many deaths in a row, each before STABLE_SECONDS, and `kim up` gives up on the service
MAX_QUICK_DEATHS = 5
RESTART_BASE_SECONDS = 0.5
RESTART_CAP_SECONDS = 15.0


class GaveUp(Exception):
    """A service died MAX_QUICK_DEATHS times in a row soon after starting."""


@dataclass
class _Child:
    name: str
    proc: object = None  # a subprocess.Popen, or anything with poll(), pid, returncode
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float | None = None
    history: list = field(default_factory=list)  # exit codes, newest last


class Supervisor:
    def __init__(self, names, spawn: Callable[[str], object], say: Callable[[str], None] = print,
                 clock: Callable[[], float] = time.monotonic):
        self.spawn = spawn
        self.say = say
        self.clock = clock
        self.children = {name: _Child(name) for name in names}

    def start(self) -> None:
        for child in self.children.values():
            self._start(child)

    def _start(self, child: _Child) -> None:
        child.proc = self.spawn(child.name)
        child.started_at = self.clock()
        child.restart_at = None

    def check(self) -> None:
        """Notice deaths and due restarts; raises GaveUp for a service that cannot start."""
        now = self.clock()
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self.say(f"restarting {child.name}")
                    self._start(child)
                continue
            code = child.proc.poll()
            if code is None:
                continue
            child.history.append(code)
            ran = now - child.started_at
            child.quick_deaths = child.quick_deaths + 1 if ran < STABLE_SECONDS else 1
            if child.quick_deaths >= MAX_QUICK_DEATHS:
                raise GaveUp(f"{child.name} could not start: it exited {child.quick_deaths} times in a row within "
                             f"{STABLE_SECONDS:.0f} s of starting (last exit code {code}); its log lines above "
                             f"say why")
            delay = min(RESTART_CAP_SECONDS, RESTART_BASE_SECONDS * 2 ** (child.quick_deaths - 1))
            delay *= random.uniform(0.8, 1.2)
            child.restart_at = now + delay
            self.say(f"{child.name} exited with {code} after {ran:.1f} s; restarting in {delay:.1f} s")

    def running(self) -> dict:
        """name -> process, of those alive now."""
        return {c.name: c.proc for c in self.children.values()
                if c.restart_at is None and c.proc is not None and c.proc.poll() is None}

    def processes(self) -> list:
        return [c.proc for c in self.children.values() if c.proc is not None]
