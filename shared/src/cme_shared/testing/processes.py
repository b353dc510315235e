"""Services as real processes, for end-to-end tests: started, probed, stopped or killed like in production."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on now and this test run has not handed out before: the kernel may offer a
    port it just gave, so two services started together could otherwise be told the same one."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


class ServiceProcess:
    def __init__(self, service: str, env: dict[str, str], log_dir: Path) -> None:
        self.service = service
        self.port = free_port()
        self.env = {**os.environ, **env, "CME_HTTP_PORT": str(self.port), "CME_ENV": "test"}
        self.log_path = log_dir / f"{service}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_timeout: float = 60.0) -> "ServiceProcess":
        log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [sys.executable, "-m", f"cme_{self.service}"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.service} exited with {self._process.returncode}; see {self.log_path}")
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=1)
                if response.status_code == 200:
                    # The answer must be this service's: another process on the port is not it being ready.
                    if response.json().get("service") != self.service:
                        raise RuntimeError(f"port {self.port} is answered by another process, not {self.service}")
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.service} not ready in {ready_timeout}s; see {self.log_path}")

    def stop(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        """As a crash would: no shutdown hooks, nothing flushed."""
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(sig)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
