"""Running the real pipeline on one machine: the gcloud emulators and locally served
functions, each in its own process group so stopping it stops its children too (gcloud
starts a Java child that would otherwise outlive it).

Used by ``taops dev`` and by the integration tests' session fixture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

START_TIMEOUT_S = 90


class StartError(RuntimeError):
    """A process did not come up; the message carries the end of its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gcloud_component(component_dir: str) -> bool:
    gcloud = shutil.which("gcloud")
    if not gcloud:
        return False
    return (Path(gcloud).resolve().parent.parent / "platform" / component_dir).exists()


def missing_tools() -> str | None:
    """Why the emulators cannot run here, or None."""
    if not shutil.which("gcloud"):
        return "gcloud is not installed: the emulators come with the Google Cloud SDK"
    for component in ("cloud-firestore-emulator", "pubsub-emulator"):
        if not gcloud_component(component):
            return f"the gcloud component {component} is not installed"
    if not shutil.which("java"):
        return "java is not installed: the emulators need a JRE"
    return None


class Service:
    """One background process in its own process group, with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        port: int,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.host = f"127.0.0.1:{port}"
        # In ``log_dir`` when the caller cleans up after itself (taops dev), else a temp file.
        handle, path = tempfile.mkstemp(prefix=f"taops-{name}-", suffix=".log", dir=log_dir)
        os.close(handle)
        self.log = Path(path)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **(env or {})},
            )

    def wait_ready(self, path: str = "/", ok_statuses: tuple[int, ...] = (200,)) -> None:
        """Wait until an HTTP GET answers with one of ``ok_statuses``; ``StartError`` if not."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://{self.host}{path}", timeout=1) as resp:
                    if resp.status in ok_statuses:
                        return
            except urllib.error.HTTPError as exc:
                if exc.code in ok_statuses:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-2000:]
        self.stop()
        raise StartError(f"{self.name} did not start on {self.host}:\n{tail}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        # The parent may exit before its children (gcloud before its Java emulator): sweep
        # the group whatever happened, and wait until it is gone so that "stopped" means it.
        deadline = time.monotonic() + 10
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
            while time.monotonic() < deadline and not _only_zombies(self.proc.pid):
                time.sleep(0.05)


def _only_zombies(group: int) -> bool:
    """Whether every process left in ``group`` (its own session: ``start_new_session``) has
    exited and only awaits its reaper.
    Raises ``ProcessLookupError`` when the group is empty."""
    os.killpg(group, 0)
    try:
        out = subprocess.run(
            ["ps", "-o", "stat=", "-s", str(group)], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return True
    return all(state.startswith("Z") for state in out.split())


def emulator(name: str, project: str, log_dir: Path | None = None) -> Service:
    port = free_port()
    args = {
        "firestore": ["emulators", "firestore", "start", "--quiet"],
        "pubsub": ["beta", "emulators", "pubsub", "start", "--quiet", f"--project={project}"],
    }[name]
    env = {"CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1"}
    return Service(name, ["gcloud", *args, f"--host-port=127.0.0.1:{port}"], port, env, log_dir)


def function_server(
    target: str, signature: str, env: dict[str, str], source: Path, log_dir: Path | None = None
) -> Service:
    """``functions-framework`` serving one entry point of ``main.py`` on a free port."""
    port = free_port()
    exe = Path(sys.executable).with_name("functions-framework")
    argv = [
        str(exe),
        "--target",
        target,
        "--source",
        str(source),
        "--signature-type",
        signature,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    return Service(target, argv, port, env, log_dir)
