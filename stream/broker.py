"""The embedded Kafka-protocol broker (noida-db), owned by our code from start to stop.

We start the bundled binary directly: its console wrapper does not forward SIGTERM, so the
broker would outlive it. Ready means an admin ``list_topics()`` answers; the port accepts
connections before a snapshot has loaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import noida_db
from aiokafka.admin import AIOKafkaAdminClient

log = logging.getLogger(__name__)

_HARMLESS_STDERR = ("GLIBC_2.39",)
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Runs in the child before exec: Linux sends it SIGTERM when its parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def broker_binary() -> Path:
    return Path(noida_db.__file__).parent / "noida-db"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


async def _list_topics(admin: AIOKafkaAdminClient) -> None:
    await admin.start()
    await admin.list_topics()


async def wait_until_ready(bootstrap: str, within: float = 30.0) -> None:
    """Return once an admin client can list topics on ``bootstrap``."""
    deadline = time.monotonic() + within
    with _quiet("aiokafka"):  # "connection refused" while it boots is expected, not news
        while time.monotonic() < deadline:
            if await _ready_once(bootstrap, deadline):
                return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"broker at {bootstrap} not ready after {within}s")


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def _ready_once(bootstrap: str, deadline: float) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        # Bounded, so a port that accepts but never answers cannot overrun the deadline.
        remaining = max(0.1, deadline - time.monotonic())
        await asyncio.wait_for(_list_topics(admin), remaining)
        return True
    except Exception as exc:  # any failure here means "not yet"
        log.debug("broker at %s not ready: %r", bootstrap, exc)
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


@dataclass
class EmbeddedBroker:
    """A noida-db process serving only Kafka on ``host:port`` with its state in ``data_dir``."""

    data_dir: Path
    port: int = 0
    host: str = "127.0.0.1"
    stop_timeout: float = 10.0
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_path: Path | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def spawn(self) -> None:
        """Start the process; does not wait for readiness (see ``start``)."""
        if self.running:
            return
        if not self.port:
            self.port = free_port(self.host)
        elif not port_is_free(self.host, self.port):
            # Another broker there would answer our readiness probe in our place.
            raise OSError(f"{self.bootstrap} is already in use")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        log_file = self._log_path.open("ab")
        cmd = [
            str(broker_binary()),
            "start",
            "--only",
            "kafka",
            "--host",
            self.host,
            "--kafka-port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]
        # Own process group, so a Ctrl-C meant for us does not reach it before we stop it.
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
            # Even a SIGKILLed parent must not leave a broker behind.
            preexec_fn=die_with_parent,
        )
        log_file.close()
        log.info("embedded broker pid %s on %s", self._proc.pid, self.bootstrap)

    async def start(self, within: float = 30.0) -> None:
        self.spawn()
        try:
            await wait_until_ready(self.bootstrap, within)
            if not self.running:
                raise RuntimeError(f"embedded broker exited at start: {self.log_tail()}")
        except BaseException:
            self.stop()
            raise

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL), then SIGKILL if it has not exited within ``stop_timeout``."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        if not self._log_path or not self._log_path.exists():
            return ""
        text = self._log_path.read_text(errors="replace").splitlines()
        return "\n".join(ln for ln in text[-lines:] if not any(h in ln for h in _HARMLESS_STDERR))

    async def __aenter__(self) -> EmbeddedBroker:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().split(") ", 1)[1].startswith("Z"):
                return False
    return True
