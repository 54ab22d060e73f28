"""A real two-node Ray cluster on this machine for the batch tests: a head and a second node, each started with
Ray's own ``ray start`` in temporary folders, every server on 127.0.0.1 only, stopped by process id.

Ray turns ``127.0.0.1`` into the machine's outward address (and then listens on every interface) unless
told that the host is a one-machine setup; ``ray start`` refuses a second node in that mode, so each node is
started by ``ray start`` run with that one translation turned off. Token authentication is on, with a token
that lives only in the environment. The second node can be started in a private mount namespace in which
folders are hidden, so that it sees the machine as a node of a real cluster without a shared file system does.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# ``ray start`` with the loopback address kept as given (see the module docstring)
RAY_START = (
    "import sys, ray._private.services as services; services.resolve_ip_for_localhost = lambda host: host; "
    "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"
)
START_TIMEOUT = 180.0
STOP_TIMEOUT = 20.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _address(hex_address: str) -> str:
    """``/proc/net/tcp{,6}``'s ``hex_ip:hex_port`` as ``ip:port`` (``[v6]:port``)."""
    ip_hex, port_hex = hex_address.split(":")
    raw = bytes.fromhex(ip_hex)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # each 32-bit word in host order
    ip = ipaddress.ip_address(words)
    text = str(ip) if ip.version == 4 else f"[{ip}]"
    return f"{text}:{int(port_hex, 16)}"


def listening_addresses(pids: list[int] | set[int]) -> list[str]:
    """The TCP addresses the processes ``pids`` listen on (read from /proc: no tool needed)."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(_address(fields[1]))
    return found


def is_loopback(address: str) -> bool:
    """Whether ``ip:port`` is on a loopback address (IPv4, or IPv4 mapped into IPv6)."""
    ip = ipaddress.ip_address(address.rsplit(":", 1)[0].strip("[]"))
    return ip.is_loopback or (ip.version == 6 and ip.ipv4_mapped is not None and ip.ipv4_mapped.is_loopback)


def can_hide_folders() -> bool:
    """Whether a process can get a private mount namespace here (unshare; as root or with user namespaces)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    flags = ["-m"] if os.geteuid() == 0 else ["-rm"]
    return subprocess.run([unshare, *flags, "true"], capture_output=True, timeout=20).returncode == 0


class RayTestCluster:
    """Start with :meth:`start`, use :attr:`address` and :attr:`env`, end with :meth:`stop`."""

    def __init__(self, cpus_per_node: int = 1) -> None:
        # a short folder of its own: Ray's socket paths in it must stay under 108 bytes
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ptray-", dir="/tmp"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.cpus = cpus_per_node
        self.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token",
                        RAY_AUTH_TOKEN=secrets.token_hex(32))  # fmt: skip
        self.env.pop("RAY_ADDRESS", None)

    def _ray_start(self, args: list[str], hide: list[Path] | None = None) -> None:
        cmd = [sys.executable, "-c", RAY_START, "start", "--node-ip-address=127.0.0.1", f"--num-cpus={self.cpus}",
               "--object-store-memory=100000000", "--disable-usage-stats", *args]  # fmt: skip
        if hide:  # a node of its own: these folders are empty tmpfs mounts in its private mount namespace
            mounts = " && ".join(f"mount -t tmpfs none {str(p)!r}" for p in hide)
            flags = "-m" if os.geteuid() == 0 else "-rm"
            shell = f"{mounts} && exec " + " ".join(f"{a!r}" for a in cmd)
            cmd = ["unshare", flags, "sh", "-c", shell]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=START_TIMEOUT)
        if proc.returncode != 0:
            raise RuntimeError(f"ray start failed ({proc.returncode}): {proc.stderr[-2000:]}")

    def start(self, hide_from_second_node: list[Path] | None = None) -> None:
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self._ray_start(["--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.temp_dir}"])
        self._ray_start([f"--address={self.address}"], hide=hide_from_second_node)

    def pids(self) -> list[int]:
        """This cluster's processes: those whose command line names its temporary folder, and their children."""
        marker = str(self.temp_dir).encode()
        parents: dict[int, int] = {}
        ours: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if marker in cmdline:
                ours.add(int(entry.name))
        grown = True
        while grown:
            children = {pid for pid, ppid in parents.items() if ppid in ours} - ours
            grown = bool(children)
            ours |= children
        ours.discard(os.getpid())
        return sorted(ours)

    def listening(self) -> list[str]:
        """The local addresses this cluster's processes listen on (TCP)."""
        return listening_addresses(self.pids())

    def stop(self) -> None:
        """End the cluster's processes by id: TERM, then KILL what is left."""
        pids = self.pids()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + STOP_TIMEOUT
            while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
                time.sleep(0.2)
            pids = [pid for pid in pids if _alive(pid)]
            if not pids:
                break
        shutil.rmtree(self.temp_dir, ignore_errors=True)
