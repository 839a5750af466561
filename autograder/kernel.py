"""Grading kernels: sandboxed (bubblewrap, IPC sockets, bounded messages) and limited.

``GradingKernelManager`` starts each kernel as
``python -m autograder.kernel LIMITS -- bwrap ... -- python -m ipykernel_launcher -f CONN``:
the launcher (trusted, outside the sandbox) joins the student's cgroup, sets per-process
limits (address space, CPU seconds, file size, open files) and execs bubblewrap; inside, a
one-line step sets RLIMIT_NPROC and execs the kernel. The kernel binds IPC sockets in the
student's run folder (a TCP port on the host's loopback is unreachable from a new network
namespace); its client drops any message over ``MAX_MESSAGE`` bytes, so one huge output
cannot blow up the grader. Without a sandbox (``sandbox=False``) the same limits apply to
an ordinary kernel. Interrupts go over the control channel (signals do not cross the
sandbox's session boundary).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import zmq
import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from traitlets import Any, Bool, Instance, Unicode, default

from .sandbox import Limits, bwrap_command

MAX_MESSAGE = 64 << 20   # bytes: larger kernel messages are dropped by ZeroMQ
RECEIVE_QUEUE = 200      # messages queued per socket before ZeroMQ drops more

_SET_NPROC = ("import os,resource,sys; n=int(sys.argv[1]); "
              "resource.setrlimit(resource.RLIMIT_NPROC,(n,n)); os.execv(sys.argv[2],sys.argv[2:])")


class BoundedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets drop oversized messages instead of buffering them
    (set on its own ZeroMQ context, so the options apply before each socket connects)."""

    @default("context")
    def _bounded_context(self):
        context = zmq.asyncio.Context()
        context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        context.setsockopt(zmq.RCVHWM, RECEIVE_QUEUE)
        return context


class GradingKernelManager(AsyncKernelManager):
    """A kernel for one student: sandboxed unless ``sandbox`` is False, always limited."""

    sandbox = Bool(True).tag(config=True)
    gpu = Bool(False, help="let the kernel see the GPU (default: it sees none)").tag(config=True)
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

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec

    def format_kernel_cmd(self, extra_arguments=None):
        kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", self.connection_file,
                  "--HistoryManager.enabled=False", *(extra_arguments or [])]
        kernel = [sys.executable, "-I", "-S", "-c", _SET_NPROC, str(self.limits.processes), *kernel]
        if self.sandbox:
            kernel = bwrap_command(Path(self.run_dir), self.limits, gpu=self.gpu) + kernel
        procs = self.cgroup.procs_files() if self.cgroup else []
        return [sys.executable, "-m", "autograder.kernel",
                json.dumps({"limits": self.limits.__dict__, "cgroup_procs": procs}), "--", *kernel]

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        kw["cwd"] = self.run_dir
        kw["stdout"] = subprocess.DEVNULL
        kw["stderr"] = open(Path(self.run_dir) / "stderr.txt", "wb")
        if self.sandbox:
            kw["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        else:
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
    """The end of a kernel's stderr (why it died), at most ``n`` characters."""
    try:
        with open(Path(run_dir) / "stderr.txt", "rb") as f:
            f.seek(0, 2)
            f.seek(max(0, f.tell() - n))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _limit(which, value: int) -> None:
    import resource
    if value > 0:
        _, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def main(argv: list[str]) -> None:
    """The launcher: join the student's cgroup, set per-process limits, exec the rest."""
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
    _limit(resource.RLIMIT_CPU, lim.cpu_seconds)
    _limit(resource.RLIMIT_FSIZE, lim.file_mb << 20)
    _limit(resource.RLIMIT_NOFILE, lim.open_files)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
