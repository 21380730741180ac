"""Running `paystream worker` processes: for the demo and the end-to-end tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from stream.broker import free_port


@dataclass
class WorkerProcess:
    """One `paystream worker` subprocess, the same program production runs."""

    env: dict[str, str]
    log_path: Path
    web_port: int = field(default_factory=free_port)
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/metrics"

    @property
    def health_url(self) -> str:
        """200 while it consumes; 503 with the reasons when not (stream/health.py)."""
        return f"http://127.0.0.1:{self.web_port}/health"

    @property
    def exit_code(self) -> int | None:
        """None while running (or once stopped here); 1 when it stopped itself to be restarted."""
        return self._proc.poll() if self._proc else None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> WorkerProcess:
        env = {**os.environ, **self.env, "PAYSTREAM_WEB_PORT": str(self.web_port)}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "stream.cli", "worker"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # No preexec_fn (PR_SET_PDEATHSIG): it forces fork(), and with the demo's
                # in-process gRPC server running, gRPC then prints a warning on every start.
            )
        return self

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (Faust stops cleanly, committing what it processed), SIGKILL if stuck: the
        exit code (negative: the signal that ended it), None if it was not running."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return None
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to commit anything."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
