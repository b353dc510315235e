"""The console against the real stack: the four services as processes on the test's own databases and topic
namespace (as tests/conftest.py's `stack`), the console as a process pointed at them, and headless Chromium
(Debian's chromium and chromedriver, installed by deploy/bin/console.sh) driven by Selenium. The stack and the
browser are started once per module and shared by its tests."""

import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from importlib import import_module
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from cme_shared.contracts.topics import TopicNames
from cme_shared.ops import delete_namespace, ensure_topics
from cme_shared.testing.fixtures import Databases
from cme_shared.testing.processes import ServiceProcess, free_port
from cme_shared.testing.signing import TEST_KEYS

SECRET = "console-e2e-secret-" + "x" * 40
SERVICES = ("intake", "casework", "disclosure", "rights")


def migrations_of(service: str) -> Path:
    return Path(import_module(f"cme_{service}").__file__).parent / "migrations"


class ConsoleProcess:
    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / "console.log"
        self._env = {**os.environ, **env, "CME_HTTP_PORT": str(self.port), "CME_ENV": "test"}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> "ConsoleProcess":
        self._process = subprocess.Popen([sys.executable, "-m", "cme_console"], env=self._env,
                                         stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise TimeoutError(f"the console did not start; see {self.log_path}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=20)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def platform(infra, tmp_path_factory) -> AsyncIterator[dict]:
    """Every service and the console, started once for the module's browser tests (each service's start
    is the slow part); its own databases and topic namespace, dropped and deleted afterwards."""
    tmp_path = tmp_path_factory.mktemp("console-e2e")
    databases, names = Databases(infra), TopicNames(f"t{secrets.token_hex(4)}.")
    await ensure_topics(infra.kafka, names.all_with_dlqs())
    signing = TEST_KEYS.write(tmp_path / "signing")
    processes: dict = {}
    started = []
    try:
        for service in SERVICES:
            url = await databases.create(service, migrations_of(service))
            processes[service] = ServiceProcess(service, {
                "CME_DATABASE_URL": url, **infra.kafka_env(), "CME_TOPIC_NAMESPACE": names.namespace,
                "CME_JWT_SECRET": SECRET, "CME_OUTBOX_POLL_SECONDS": "0.05",
                "CME_LOG_SIGNING_KEY_FILE": str(tmp_path / "log-key.pem"),
                "CME_SIGNING_KEY_FILE": str(signing / f"{service}.pem"), "CME_TRUSTED_SIGNERS_DIR": str(signing),
            }, tmp_path)
        for process in processes.values():
            started.append(process.start())
        console = ConsoleProcess({"CME_JWT_SECRET": SECRET, **{f"CME_{s.upper()}_URL": p.url
                                                                for s, p in processes.items()}}, tmp_path)
        started.append(console.start())
        yield {**processes, "console": console, "secret": SECRET, "namespace": names}
    finally:
        for process in reversed(started):
            process.stop()
        await databases.drop_all()
        await delete_namespace(infra.kafka, names.namespace)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
