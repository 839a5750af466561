"""The grading sandbox: what a grading kernel can see and use.

Each worker's fork server (``autograder/zygote.py``) runs in a bubblewrap container
(``bwrap_command``) that holds the system (``/usr``), the Python prefix, the venv and the
``lrlab`` package, all read-only; a private ``/tmp`` and home folder; its own PID, network
(loopback only), IPC and UTS namespaces; a minimal ``/dev`` (no GPU unless asked); an empty
environment but for a few plain settings; its root and ``/dev`` read-only. Not mounted at
all: the repository (``solutions/``), the instructor folder (gradebook, submissions, other
students), the user's home. The only host folder it can write holds the kernels' run folders
(connection file, IPC sockets, stderr). Each student's kernel is forked from it into
namespaces of its own, with its own size- and inode-limited tmpfs wherever it may write
(``/tmp``, home, ``/dev/shm``), its own ``/proc`` and ``/dev/pts``, and only its own run
folder, read-only to it once it is up (see the zygote); it dies with its grader
(``--die-with-parent``, and ``PR_SET_PDEATHSIG``).

Limits for the whole student (``Cgroup``): memory and number of processes, and a CPU cap where
the ``cpu`` controller is there too (one CPU: threads or processes that spin cannot take the
other workers' cores), in a cgroup of their own where the machine lets the grader make one
(cgroup v2 with a delegated subtree, or v1 with writable ``memory`` and ``pids`` hierarchies,
e.g. as root); per process, always:
address space, CPU seconds, file size and open files (``autograder.kernel``). The grader's
own processes, the batch and its workers, have a data limit too (``data_limit``).
"""
from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import lrlab

HOME = "/home/student"
ZYGOTE = Path(__file__).with_name("zygote.py")
ZYGOTE_IN_SANDBOX = "/opt/lrlab-grading/zygote.py"
ENV = {"HOME": HOME, "USER": "student", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
       "MPLCONFIGDIR": "/tmp/matplotlib", "IPYTHONDIR": "/tmp/ipython",
       "JUPYTER_RUNTIME_DIR": "/tmp/jupyter", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
       "LRLAB_GRADING": "1", "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass(frozen=True)
class Limits:
    """Resource limits of one student's grading (sizes in MiB)."""

    memory_mb: int = 2048        # address space of each process (a big allocation: MemoryError)
    student_memory_mb: int = 3072  # all of the student's processes and tmpfs pages (cgroup)
    processes: int = 64          # processes and threads of the student (cgroup, or RLIMIT_NPROC)
    cpus: float = 1.0            # CPUs all of the student's processes may use at once (cgroup)
    cpu_seconds: int = 600       # CPU time of each process
    file_mb: int = 64            # largest file a process may write
    open_files: int = 256
    scratch_mb: int = 256        # the home folder (the notebook's working folder), a tmpfs
    tmp_mb: int = 256            # /tmp, a tmpfs
    files: int = 10_000          # files and folders in each tmpfs of a kernel
    grader_memory_mb: int = 2048  # data of the batch and of each worker: 3x a worker's peak


def problem() -> str | None:
    """Why grading kernels cannot be sandboxed here, or None when they can."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux (bubblewrap and namespaces); this is {sys.platform}"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt install bubblewrap)"
    import tempfile
    with tempfile.TemporaryDirectory(prefix="lrlab-check-") as runs:
        os.mkdir(os.path.join(runs, "check"))
        probe = zygote_command(Path(runs), Limits(), {"PATH": "/usr/bin:/bin"}, {"check": True})
        try:
            r = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"bubblewrap does not start: {e}"
    if r.returncode != 0:
        why = ((r.stdout + r.stderr).strip().splitlines() or ["no message"])[-1]
        return (f"the sandbox cannot create its namespaces here ({why}); user namespaces may be "
                "disabled (sysctl kernel.unprivileged_userns_clone=1, or AppArmor's "
                "kernel.apparmor_restrict_unprivileged_userns) or the container forbids them")
    return None


@contextmanager
def data_limit(mb: int):
    """This process's data (heap and private mappings: RLIMIT_DATA) limited to ``mb`` MiB while
    the block runs. Only the soft limit: what it starts may set its own (a kernel does)."""
    before = resource.getrlimit(resource.RLIMIT_DATA)
    hard = before[1]
    resource.setrlimit(resource.RLIMIT_DATA,
                       (mb << 20 if hard == resource.RLIM_INFINITY else min(mb << 20, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, before)


def bwrap_version() -> str:
    r = subprocess.run(["bwrap", "--version"], capture_output=True, text=True)
    return r.stdout.strip() or "bubblewrap"


def read_only_roots() -> list[str]:
    """Host folders a notebook needs: the system, the Python prefix, the venv, lrlab."""
    roots = {"/usr", sys.base_prefix, sys.prefix, str(Path(lrlab.__file__).resolve().parent)}
    # everything else the interpreter imports from (site-packages outside the prefix, say)
    for entry in sys.path:
        p = Path(entry or ".").resolve()
        if p.is_dir() and not any(p == Path(r) or Path(r) in p.parents for r in roots):
            if p.name in ("site-packages", "dist-packages") or p.suffix == ".zip":
                roots.add(str(p))
    # a root inside another is covered by it
    return sorted(r for r in roots if not any(r != o and r.startswith(o.rstrip("/") + "/")
                                              for o in roots))


def under_tmp(paths: list[str]) -> list[str]:
    """The paths inside /tmp (a kernel's own /tmp hides them unless they are put back)."""
    return [p for p in paths if p == "/tmp" or p.startswith("/tmp/")]


def _gpu_devices() -> list[str]:
    return sorted(str(p) for p in Path("/dev").glob("nvidia*"))


def zygote_command(runs: Path, limits: Limits, env: dict, spec: dict, *, gpu: bool = False) -> list[str]:
    """The command that starts the fork server (``autograder/zygote.py``) in its sandbox, its
    ``spec`` (preloads and environment, or a check) completed with the limits, the folders and
    the read-only roots under /tmp that each kernel puts back over its own /tmp."""
    import json
    roots = read_only_roots()
    spec = {**spec, "limits": limits.__dict__, "runs": str(runs), "home": HOME, "keep": under_tmp(roots)}
    return [*bwrap_command(runs, limits, env, roots, gpu=gpu),
            sys.executable, "-I", ZYGOTE_IN_SANDBOX, json.dumps(spec)]


def bwrap_command(run_dir: Path, limits: Limits, env: dict, roots: list[str], *,
                  gpu: bool = False) -> list[str]:
    """The bwrap prefix for the fork server's sandbox: ``roots`` and the fork server's code
    read-only; its only writable host folder is ``run_dir``. The host's ``/proc`` is bound, not
    a new one: a child can mount a fresh procfs of its own only where a fully visible one
    exists (each kernel does, before any student code runs)."""
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
           "--hostname", "grading"]
    for name in ("lib", "lib64", "bin", "sbin"):
        target = os.readlink(f"/{name}") if os.path.islink(f"/{name}") else None
        if target:
            cmd += ["--symlink", target, f"/{name}"]
        elif os.path.isdir(f"/{name}"):
            cmd += ["--ro-bind", f"/{name}", f"/{name}"]
    for f in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime"):
        if os.path.exists(f):
            cmd += ["--ro-bind", f, f]
    cmd += ["--bind", "/proc", "/proc", "--dev", "/dev",
            "--size", str(limits.tmp_mb << 20), "--tmpfs", "/tmp",
            "--size", str(limits.scratch_mb << 20), "--tmpfs", HOME]
    for root in roots:                    # after /tmp's tmpfs: a venv under /tmp stays visible
        cmd += ["--ro-bind", root, root]
    cmd += ["--ro-bind", str(ZYGOTE), ZYGOTE_IN_SANDBOX]
    cmd += ["--bind", str(run_dir), str(run_dir), "--chdir", HOME]
    if gpu:
        for dev in _gpu_devices():
            cmd += ["--dev-bind", dev, dev]
    cmd += ["--remount-ro", "/dev", "--remount-ro", "/"]    # nothing there for a kernel to leave
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    return cmd + ["--"]


# --- whole-student limits ------------------------------------------------------------------
def _own_cgroups() -> dict[str, str]:
    """{controller or '' (v2): path of this process's cgroup} from /proc/self/cgroup."""
    out = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for c in (controllers.split(",") if controllers else [""]):
                out[c] = path
    except OSError:
        pass
    return out


PERIOD_US = 100_000          # the CPU cap's period


class Cgroup:
    """One student's cgroup(s): memory, process and CPU limits for everything the kernel starts.

    ``Cgroup.create(name, limits)`` returns None where the grader cannot make one; then only
    the per-process limits apply (and RLIMIT_NPROC, which Linux does not enforce for root)."""

    def __init__(self, dirs: list[Path], version: int):
        self.dirs, self.version = dirs, version

    @classmethod
    def create(cls, name: str, limits: Limits) -> "Cgroup | None":
        own = _own_cgroups()
        base = Path("/sys/fs/cgroup")
        v2 = base / own.get("", "/").lstrip("/")
        if "" in own and (base / "cgroup.controllers").exists():
            try:
                enabled = (v2 / "cgroup.subtree_control").read_text().split()
                if {"memory", "pids"} <= set(enabled):
                    d = v2 / name
                    d.mkdir()
                    (d / "memory.max").write_text(str(limits.student_memory_mb << 20))
                    (d / "memory.swap.max").write_text("0") if (d / "memory.swap.max").exists() else None
                    (d / "pids.max").write_text(str(limits.processes))
                    if "cpu" in enabled:
                        (d / "cpu.max").write_text(f"{round(limits.cpus * PERIOD_US)} {PERIOD_US}")
                    return cls([d], 2)
            except OSError:
                pass
        dirs = []
        try:
            for ctl, files in (("memory", {"memory.limit_in_bytes": limits.student_memory_mb << 20}),
                               ("pids", {"pids.max": limits.processes})):
                root = base / ctl
                if ctl not in own or not root.is_dir():
                    raise OSError(f"no cgroup v1 {ctl} hierarchy")
                d = root / own[ctl].lstrip("/") / name
                d.mkdir()
                dirs.append(d)
                for f, v in files.items():
                    (d / f).write_text(str(v))
        except OSError:
            cls(dirs, 1).remove()
            return None
        try:                             # the CPU cap, where the cpu hierarchy is writable too
            d = base / "cpu" / own["cpu"].lstrip("/") / name
            d.mkdir()
            dirs.append(d)
            (d / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (d / "cpu.cfs_quota_us").write_text(str(round(limits.cpus * PERIOD_US)))
        except (KeyError, OSError):
            pass
        return cls(dirs, 1)

    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in self.dirs]

    def add(self, pid: int) -> None:
        """Move process ``pid`` (and what it starts from now on) into the cgroup."""
        for f in self.procs_files():
            Path(f).write_text(str(pid))

    def out_of_memory(self) -> bool:
        """Did the memory limit kill a process (or refuse memory)?"""
        for d in self.dirs:
            try:
                if self.version == 2:
                    events = dict(l.split() for l in (d / "memory.events").read_text().splitlines())
                    if int(events.get("oom_kill", 0)) or int(events.get("max", 0)):
                        return True
                elif (d / "memory.oom_control").exists():
                    fields = dict(l.split() for l in (d / "memory.oom_control").read_text().splitlines())
                    if int(fields.get("oom_kill", 0)):
                        return True
            except (OSError, ValueError):
                pass
        return False

    def pids_exhausted(self) -> bool:
        for d in self.dirs:
            try:
                if self.version == 2:
                    events = dict(l.split() for l in (d / "pids.events").read_text().splitlines())
                    if int(events.get("max", 0)):
                        return True
                elif (d / "pids.events").exists() and "max 0" not in (d / "pids.events").read_text():
                    return True
            except (OSError, ValueError):
                pass
        return False

    def pids(self) -> list[int]:
        found = set()
        for d in self.dirs:
            try:
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except (OSError, ValueError):
                pass
        return sorted(found)

    def kill(self) -> None:
        """SIGKILL everything still in the cgroup (the sandbox's namespace should be empty)."""
        import signal
        for d in self.dirs:
            if self.version == 2 and (d / "cgroup.kill").exists():
                try:
                    (d / "cgroup.kill").write_text("1")
                except OSError:
                    pass
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def remove(self) -> None:
        import time
        for d in self.dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:   # processes still exiting
                    self.kill()
                    time.sleep(0.02)


def remove_cgroups(prefix: str) -> None:
    """Kill and remove every cgroup of ours whose name starts with ``prefix`` (a worker that
    died cannot clean up after its kernels)."""
    own = _own_cgroups()
    base = Path("/sys/fs/cgroup")
    parents = [base / own.get("", "/").lstrip("/")] + [base / c / own[c].lstrip("/")
                                                       for c in ("memory", "pids", "cpu") if c in own]
    for parent in parents:
        try:
            found = [d for d in parent.iterdir() if d.is_dir() and d.name.startswith(prefix)]
        except OSError:
            continue
        for d in found:
            version = 2 if parent == parents[0] and (base / "cgroup.controllers").exists() else 1
            Cgroup([d], version).remove()


def describe(limits: Limits, cgroups: bool | None) -> str:
    """One line for the grade command: what the sandbox enforces here."""
    whole = (f"per student {limits.student_memory_mb} MiB memory, {limits.processes} processes "
             f"and {limits.cpus:g} CPU (cgroup)" if cgroups else
             "no cgroup here: per-process limits only (memory, CPU, file size)")
    return (f"sandbox: {bwrap_version()}; no network, own PIDs, read-only system, "
            f"{limits.scratch_mb} MiB scratch + {limits.tmp_mb} MiB /tmp; "
            f"{limits.memory_mb} MiB per process; {whole}")
