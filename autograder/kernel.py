"""Grading kernels: forked fresh for each student inside the sandbox, bounded, over IPC.

``Zygote`` starts a worker's fork server (``autograder/zygote.py``) in a bubblewrap sandbox
(``sandbox.zygote_command``): it imports torch and the assignment's modules once, then forks
one kernel per student in namespaces of its own. ``GradingKernelManager`` is jupyter_client's
kernel manager with a ``ZygoteProvisioner``: the kernel binds IPC sockets in its run folder
(a TCP port on the host's loopback is unreachable from a new network namespace), and every
client it makes drops a message over ``MAX_MESSAGE`` bytes instead of buffering it, so one
huge output cannot blow up the grader. Interrupts go over the control channel.

Without a sandbox (``zygote=None``, ``grade --no-sandbox``), the kernel is an ordinary process
started through ``python -m autograder.kernel``, which sets the per-process limits, joins the
student's cgroup when there is one and execs ipykernel.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Any, Bool, Instance, Unicode, default

from .sandbox import ENV, Limits, zygote_command

MAX_MESSAGE = 64 << 20   # bytes: larger kernel messages are dropped by ZeroMQ
RECEIVE_QUEUE = 200      # messages queued per socket before ZeroMQ drops more


def kernel_env(gpu: bool) -> dict:
    """The environment of a grading kernel: plain settings, nothing about the instructor."""
    env = dict(ENV, PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin",
               MPLBACKEND="module://matplotlib_inline.backend_inline")
    if not gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def host_pid(ns_pid: int, ancestor: int) -> int:
    """The host PID of the descendant of ``ancestor`` that is ``ns_pid`` in its namespace."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = dict(line.split(":", 1) for line in
                          Path(f"/proc/{entry}/status").read_text().splitlines() if ":" in line)
        except OSError:
            continue
        pids = status.get("NSpid", "").split()
        if len(pids) >= 2 and int(pids[-1]) == ns_pid and _descends(int(entry), ancestor):
            return int(entry)
    raise ProcessLookupError(f"no process {ns_pid} under {ancestor}")


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


def short_folder(prefix: str) -> Path:
    """A new private folder with a short path: a Unix socket's path has at most 107 bytes, and
    ``$TMPDIR`` can be deep (a kernel's sockets are ``<folder>/kN/kernel-M``)."""
    import tempfile
    for base in (tempfile.gettempdir(), "/tmp"):
        if len(base) + len(prefix) + 9 <= 70 and os.access(base, os.W_OK):
            return Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    raise RuntimeError("no folder with a short path for kernel sockets: make /tmp writable")


class Zygote:
    """A worker's fork server in its bubblewrap sandbox; requests and replies matched by id."""

    def __init__(self, root: Path, runs: Path, limits: Limits, *, gpu: bool, preload: list[str]):
        self.root, self.runs = root, runs
        self.limits, self.gpu, self.preload = limits, gpu, preload
        self.proc = self.log = self._reader = None
        self._waiting: dict[int, asyncio.Future] = {}
        self._ids = iter(range(1, 1 << 62))

    @property
    def ended(self) -> bool:
        """Not (or no longer) serving requests."""
        return self._reader is None or self._reader.done() or self.proc.returncode is not None

    async def start(self) -> None:
        env = kernel_env(self.gpu)
        cmd = zygote_command(self.runs, self.limits, env, {"env": env, "preload": self.preload},
                             gpu=self.gpu)
        self.log = open(self.root / "zygote.log", "wb")
        self.proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, limit=1 << 20)
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the grading sandbox did not start: " + self._log_tail())
        self.host = host_pid(json.loads(line)["ready"], self.proc.pid)
        self._reader = asyncio.ensure_future(self._read_replies())

    def _log_tail(self) -> str:
        return (self.root / "zygote.log").read_text(errors="replace")[-400:]

    async def _read_replies(self) -> None:
        """Hand each reply to the request that waits for it (a caller may have given up)."""
        while line := await self.proc.stdout.readline():
            reply = json.loads(line)
            waiter = self._waiting.pop(reply.get("id"), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(reply)
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(RuntimeError("the grading sandbox ended: " + self._log_tail()))

    async def request(self, **message) -> dict:
        if self.ended:
            raise RuntimeError("the grading sandbox is not running")
        message["id"] = next(self._ids)
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[message["id"]] = waiter
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()
        reply = await waiter
        if "error" in reply:
            raise RuntimeError(f"grading sandbox: {reply['error']}")
        return reply

    async def fork(self, name: str, cgroup) -> int:
        """A kernel on ``runs/name/kernel.json``, in ``cgroup`` before any of its code runs;
        the host PID of its sandbox (in the kernel's mount namespace)."""
        reply = await self.request(fork=name)
        pid = host_pid(reply["pid"], self.host)
        if cgroup is not None:
            cgroup.add(pid)
        await self.request(go=name)
        return pid

    async def seal(self, name: str) -> None:
        """Make the run folder of kernel ``name``, which is up, read-only to it."""
        await self.request(seal=name)

    async def close(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.stdin.close()
            if self._reader is not None:
                await self._reader
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.log:
            self.log.close()


class ZygoteProvisioner(LocalProvisioner):
    """jupyter_client's provisioner for a kernel the zygote forks (connection file as usual)."""

    zygote = Any()
    name = Unicode()
    cgroup = Any(None)
    host_pid = None
    _code = None
    _alive = False

    @property
    def has_process(self) -> bool:
        return self._alive

    async def launch_kernel(self, cmd, **kwargs):
        self.host_pid = await self.zygote.fork(self.name, self.cgroup)
        self._alive = True
        return self.connection_info

    async def poll(self):
        if self._alive:
            self._code = (await self.zygote.request(poll=self.name))["code"]
            self._alive = self._code is None
        return None if self._alive else (self._code or 0)

    async def wait(self):
        while await self.poll() is None:
            await asyncio.sleep(0.1)
        return self._code or 0

    async def send_signal(self, signum: int) -> None:
        if signum in (signal.SIGKILL, signal.SIGTERM):
            await self.kill()

    async def kill(self, restart: bool = False) -> None:
        if self._alive:
            await self.zygote.request(kill=self.name)
            self._alive, self._code = False, -signal.SIGKILL

    async def terminate(self, restart: bool = False) -> None:
        await self.kill(restart)

    async def cleanup(self, restart: bool = False) -> None:
        pass


class BoundedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets drop oversized messages instead of buffering them
    (set on its own ZeroMQ context, so the options apply before each socket connects)."""

    @default("context")
    def _bounded_context(self):
        self._created_context = True            # ours: stop_channels() destroys it
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        context.setsockopt(zmq.RCVHWM, RECEIVE_QUEUE)
        return context


class GradingKernelManager(AsyncKernelManager):
    """A kernel for one student: forked by ``zygote`` (sandboxed) or, without one, an
    ordinary process under the same limits."""

    zygote = Any(None, help="autograder.kernel.Zygote, or None to grade without a sandbox")
    gpu = Bool(False, help="let the kernel see the GPU (default: it sees none)")
    limits = Instance(Limits, args=())
    run_dir = Unicode(help="folder for the connection file, sockets and the kernel's stderr")
    cgroup = Any(None, help="autograder.sandbox.Cgroup of the student, or None")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.client_factory = BoundedKernelClient
        run = Path(self.run_dir)
        self.transport = "ipc"
        self.ip = str(run / "kernel")
        self.connection_file = str(run / "kernel.json")
        if self.zygote is not None:
            self.provisioner = ZygoteProvisioner(
                kernel_id=run.name, kernel_spec=self.kernel_spec, parent=self,
                zygote=self.zygote, name=run.name, cgroup=self.cgroup)

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    def format_kernel_cmd(self, extra_arguments=None):
        kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file,
                  "--HistoryManager.enabled=False", *(extra_arguments or [])]
        procs = self.cgroup.procs_files() if self.cgroup else []
        return [sys.executable, "-m", "autograder.kernel",
                json.dumps({"limits": self.limits.__dict__, "cgroup_procs": procs}), "--", *kernel]

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        if self.zygote is not None:          # forked: the command, files and environment are the zygote's
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        kw["cwd"] = self.run_dir
        kw["stdout"] = subprocess.DEVNULL
        kw["stderr"] = open(Path(self.run_dir) / "stderr.txt", "wb")
        kw["env"] = _plain_env(self.gpu)
        try:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:
            kw["stderr"].close()


def _plain_env(gpu: bool) -> dict:
    """An unsandboxed kernel's environment: the grader's, minus anything about the instructor."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LRLAB_INSTRUCTOR", "JUPYTER_CONFIG", "NBGRADER")) and k != "OLDPWD"}
    env.update(LRLAB_GRADING="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if not gpu:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def stderr_tail(run_dir: str | Path, n: int = 400) -> str:
    """The end of a kernel's stderr (why it died), at most ``n`` bytes: read only from a
    regular file, never through a link or from anything else a kernel put in its place."""
    try:
        fd = os.open(Path(run_dir) / "stderr.txt", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return ""
        return os.pread(fd, n, max(0, info.st_size - n)).decode("utf-8", "replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _limit(which, value: int) -> None:
    import resource
    if value > 0:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def main(argv: list[str]) -> None:
    """The launcher of an unsandboxed kernel: join the student's cgroup, set per-process
    limits, exec the rest."""
    import resource
    spec, sep, *cmd = argv
    if sep != "--" or not cmd:
        raise SystemExit("usage: python -m autograder.kernel SPEC_JSON -- CMD...")
    spec = json.loads(spec)
    for procs in spec["cgroup_procs"]:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    lim = Limits(**spec["limits"])
    _limit(resource.RLIMIT_AS, lim.memory_mb << 20)
    _limit(resource.RLIMIT_DATA, lim.memory_mb << 20)
    _limit(resource.RLIMIT_CPU, lim.cpu_seconds)
    _limit(resource.RLIMIT_FSIZE, lim.file_mb << 20)
    _limit(resource.RLIMIT_NOFILE, lim.open_files)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
