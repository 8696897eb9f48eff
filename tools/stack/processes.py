"""Processes of a stack: detached JVMs found by their command line, pid files, locks.

A server is "ours" when a live process runs its main class with its own config file
(so a pid file left by a crash, or a pid reused by another program, is never trusted);
launches go through a throwaway shell so the JVM outlives the launcher.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tools.stack.spec import LOG_TAIL_LINES, ServiceError, Spec, say


def port_open(port: int, timeout: float = 0.5, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def quiet(*names: str) -> Iterator[None]:
    """Silence client-library loggers while probing a server that may not be up yet."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Serialise launcher calls across processes (e.g. parallel pytest workers).

    The cluster has its own lock, so starting it never blocks the single node's users.
    """
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cmdline(pid_: int) -> list[str]:
    """Arguments of a process; empty when it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid_}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def is_ours(spec: Spec, pid_: int) -> bool:
    """True if ``pid_`` is a live JVM running ``spec`` with our config file."""
    args = cmdline(pid_)
    config = str(spec.conf_dir / spec.config_name)
    return spec.main_class in args and any(config in arg for arg in args)


def find_ours(spec: Spec) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_ours(spec, int(entry.name)):
            return int(entry.name)
    return None


def pid(spec: Spec) -> int | None:
    """Pid of the running service, or None. Cleans stale pid files, adopts lost ones."""
    try:
        recorded = int(spec.pid_file.read_text().strip())
    except (OSError, ValueError):
        recorded = None
    if recorded is not None and is_ours(spec, recorded):
        return recorded
    spec.pid_file.unlink(missing_ok=True)
    found = find_ours(spec)
    if found is not None:
        spec.pid_file.write_text(f"{found}\n")
    return found


def log_tail(spec: Spec, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of the server's log."""
    log_file = spec.log_file
    try:
        content = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {log_file})"
    return "\n".join(content[-lines:])


def launch(spec: Spec) -> int:
    """Start ``spec`` detached (its ports must be free); its pid, recorded in its pid file."""
    busy = [f"{h}:{p}" for h, p in spec.endpoints() if port_open(p, timeout=0.2, host=h)]
    if busy:
        raise ServiceError(
            f"{spec.name}: {', '.join(busy)} already in use by a process this "
            "launcher did not start; stop it or set the port environment variables"
        )
    cmd = spec.prepare(spec)
    if spec.log_file.exists():
        spec.log_file.replace(spec.log_file.with_suffix(".log.1"))
    env = dict(os.environ, MALLOC_ARENA_MAX="4")
    env.pop("CLASSPATH", None)
    with open(spec.log_file, "ab") as out:
        out.write(f"# {time.strftime('%F %T')} launching: {' '.join(cmd)}\n".encode())
    # A background job of a throwaway shell: the JVM is re-parented to init at once, so it
    # outlives us and never becomes our zombie (nor a ResourceWarning in pytest).
    shell = 'log=$1; shift; exec "$@" </dev/null >>"$log" 2>&1 & echo $!'
    result = subprocess.run(
        ["/bin/sh", "-c", shell, "sh", str(spec.log_file), *cmd],
        cwd=spec.dir,
        env=env,
        capture_output=True,
        text=True,
        start_new_session=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout.strip().isdigit():
        raise ServiceError(f"{spec.name}: launch failed: {result.stdout}{result.stderr}")
    new_pid = int(result.stdout.strip())
    deadline = time.monotonic() + 10
    while cmdline(new_pid) and not is_ours(spec, new_pid) and time.monotonic() < deadline:
        time.sleep(0.02)  # the background shell has not exec'd java yet
    spec.pid_file.write_text(f"{new_pid}\n")
    say(f"{spec.name}: started pid {new_pid}, log {spec.log_file}")
    return new_pid


def failure(spec: Spec, reason: str) -> ServiceError:
    """A ServiceError with ``reason`` and the end of the server's log."""
    return ServiceError(
        f"{spec.name}: {reason}\n--- last {LOG_TAIL_LINES} lines of {spec.log_file} ---\n"
        f"{log_tail(spec)}"
    )


def send(spec: Spec, sig: signal.Signals) -> int | None:
    """Signal the running server; its pid, or None when it was not running."""
    running = pid(spec)
    if running is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(running, sig)
    return running


def await_exit(spec: Spec, pid_: int, timeout: float) -> None:
    """Wait until ``pid_`` of ``spec`` has exited (SIGKILL after ``timeout`` s) and freed its ports."""
    name = spec.name
    deadline = time.monotonic() + timeout
    killed = False
    while is_ours(spec, pid_):
        if time.monotonic() > deadline:
            if killed:
                raise ServiceError(f"{name}: pid {pid_} survived SIGKILL for 10 s")
            say(f"{name}: pid {pid_} still alive after {timeout:.0f} s, sending SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid_, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + 10
        time.sleep(0.1)
    spec.pid_file.unlink(missing_ok=True)
    # The leader's cmdline vanishes a moment before the other threads release the sockets.
    deadline = time.monotonic() + 5
    while any(port_open(p, 0.2, h) for h, p in spec.endpoints()) and time.monotonic() < deadline:
        time.sleep(0.1)
