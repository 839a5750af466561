"""Grading kernels with resource limits.

``LimitedKernelManager`` starts each grading kernel through ``python -m autograder.kernel``,
which sets hard limits (address space, CPU seconds, file size) on itself and then execs the
real kernel: a student cell that allocates 6 GB gets a MemoryError instead of taking the
machine down, and a cell spinning in C code that ignores interrupts is killed by the CPU limit.
POSIX only (``resource``); elsewhere the kernel starts without limits.
"""
from __future__ import annotations

import os
import sys

from jupyter_client.manager import AsyncKernelManager
from traitlets import Integer


class LimitedKernelManager(AsyncKernelManager):
    memory_mb = Integer(2048, help="address-space limit of the kernel (MiB), 0: none").tag(config=True)
    cpu_seconds = Integer(600, help="CPU-time limit of the kernel (s), 0: none").tag(config=True)
    file_mb = Integer(512, help="largest file the kernel may write (MiB), 0: none").tag(config=True)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        try:
            import resource  # noqa: F401
        except ImportError:
            return cmd
        return [sys.executable, "-m", "autograder.kernel", str(self.memory_mb),
                str(self.cpu_seconds), str(self.file_mb), "--", *cmd]


def _limit(which, value: int) -> None:
    import resource
    if value > 0:
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))


def main(argv: list[str]) -> None:
    import resource
    memory_mb, cpu, file_mb, sep, *cmd = argv
    assert sep == "--" and cmd, "usage: python -m autograder.kernel MEM_MB CPU_S FILE_MB -- CMD..."
    _limit(resource.RLIMIT_AS, int(memory_mb) * 2**20)
    _limit(resource.RLIMIT_CPU, int(cpu))
    _limit(resource.RLIMIT_FSIZE, int(file_mb) * 2**20)
    os.environ["LRLAB_GRADING"] = "1"
    for key in list(os.environ):  # where the instructor's files are is none of the kernel's business
        if key.startswith(("LRLAB_INSTRUCTOR", "JUPYTER_CONFIG", "NBGRADER_DB")) or key == "OLDPWD":
            del os.environ[key]
    # fewer threads: smaller address space, and parallel grading does not oversubscribe
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
