"""Grade students one after another in a long-lived, trusted worker process.

No student code runs in this process: each student's notebook runs in a fresh sandboxed
kernel, forked one student ahead by the worker's zygote (``autograder.kernel``), which imported
the assignment's modules once; used once, then killed with everything it started. A kernel
that does not start is started again once; then that student alone is not graded. Per notebook:

1. read the submission (size-limited, valid nbformat) and compare its test and read-only cells
   with the instructor's (``scan.integrity``);
2. nbgrader's sanitising preprocessors: clear outputs, restore test and read-only cells from the
   gradebook (deleted ones re-added), fix the kernelspec;
3. test cells replaced by their grading form (``probes.kernel_source``), the notebook run
   (``execute.GradingClient``: cell timeout, bounded output);
4. each test judged here by the instructor's check on the probe's plain data
   (``probes.judge``) and given outputs that score as the verdict says (``probes.apply``);
5. the autograded notebook written; flags for timeouts, memory errors, cut output, tampering,
   and for a run far slower than the instructor's own notebook on the same worker (timed by
   this process, run once per worker when a student's run first takes long).

The batch (``autograder.grade``) talks to a worker over stdin/stdout, one JSON line per student
(which may name another assignment of the course: one worker and fork server serve a demo's
every assignment), and alone writes the gradebook and the ledger.
"""
from __future__ import annotations

import asyncio
import ast
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import probes, scan
from .course import Course
from .execute import CUT_MARK, GradingClient
from .kernel import GradingKernelManager, Zygote, short_folder, stderr_tail
from .record import GRADED, Result
from .sandbox import HOME, Cgroup, Limits

MAX_NOTEBOOK_BYTES = 20 << 20
# A run is flagged slow past SLOW_FACTOR x the instructor's notebook on this worker, and past
# SLOW_FLOOR_S in all (a flag asks the instructor to look; it takes no points).
SLOW_FACTOR, SLOW_FLOOR_S = 5, 30


class Kernel:
    """One started kernel: its manager, a connected client, run folder and cgroup."""

    def __init__(self, km, run_dir: Path, cgroup):
        self.km, self.run_dir, self.cgroup = km, run_dir, cgroup
        self.kc = None

    def died_why(self) -> str:
        if self.cgroup and self.cgroup.out_of_memory():
            return "the student's memory limit"
        if self.cgroup and self.cgroup.pids_exhausted():
            return "the student's process limit"
        tail = stderr_tail(self.run_dir).strip().splitlines()
        return tail[-1][:160] if tail else "os._exit, a crash or a limit"

    def filled(self) -> list[str]:
        """The places of its own that the kernel, still running, filled (less than 1 MiB or no
        file left), seen through the mounts of its sandbox; none without a sandbox."""
        pid = getattr(self.km.provisioner, "host_pid", None)
        if pid is None:
            return []
        full = []
        for place, name in (("/tmp", "/tmp"), (HOME, "home folder"), ("/dev/shm", "/dev/shm")):
            try:
                fs = os.statvfs(f"/proc/{pid}/root{place}")
            except OSError:       # the sandbox is gone
                continue
            if fs.f_bavail * fs.f_frsize < 1 << 20 or fs.f_favail == 0:
                full.append(name)
        return full

    async def close(self) -> None:
        if self.kc is not None:
            self.kc.stop_channels()
        try:
            await self.km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 - already dead is fine
            pass
        if self.cgroup:
            self.cgroup.kill()
            self.cgroup.remove()
        shutil.rmtree(self.run_dir, ignore_errors=True)


class KernelPool:
    """Kernels started one student ahead: ``take()`` hands out a fresh one and starts the next.
    Sandboxed, they are forked by the worker's zygote, which imported the assignment's
    modules once; without a sandbox, each is a new process that imports them (the warm-up,
    before any student code)."""

    def __init__(self, root: Path, limits: Limits, *, sandbox: bool, gpu: bool, preload: list[str]):
        self.limits, self.gpu, self.preload = limits, gpu, preload
        self.runs = short_folder("lrlab-runs-")
        self.zygote = Zygote(root, self.runs, limits, gpu=gpu, preload=preload) if sandbox else None
        self._next: asyncio.Task | None = None
        self._count = 0

    async def open(self) -> None:
        if self.zygote is not None:
            await self.zygote.start()

    async def _start(self) -> Kernel:
        self._count += 1
        name = f"k{self._count}"
        run_dir = self.runs / name
        run_dir.mkdir(mode=0o700)
        cgroup = Cgroup.create(f"lrlab-{os.getpid()}-{self._count}", self.limits)
        km = GradingKernelManager(run_dir=str(run_dir), limits=self.limits, zygote=self.zygote,
                                  gpu=self.gpu, cgroup=cgroup)
        kernel = Kernel(km, run_dir, cgroup)
        try:
            await km.start_kernel()
            kernel.kc = km.client()
            kernel.kc.allow_stdin = False
            kernel.kc.start_channels()
            await kernel.kc.wait_for_ready(timeout=60)
            if self.zygote is not None:      # its sockets are bound: nothing more to write there
                await self.zygote.seal(name)
            else:                            # an ordinary kernel imports what the zygote would have
                code = (f"import importlib as _i\nfor _m in {self.preload!r}:\n    try:\n"
                        "        _i.import_module(_m)\n    except Exception:\n        pass\ndel _i, _m")
                await kernel.kc.execute_interactive(code, silent=True, store_history=False, timeout=120)
        except BaseException:
            await kernel.close()
            raise
        return kernel

    async def take(self) -> Kernel:
        """A fresh kernel, started while the previous student ran. One that did not start, or
        died meanwhile, is started again (by a new zygote if the old one ended); a second
        failure is raised: it costs this student, never the next one."""
        task = self._next or asyncio.ensure_future(self._start())
        self._next = asyncio.ensure_future(self._start())
        try:
            kernel = await task
            if await _alive(kernel):
                return kernel
            await kernel.close()
        except Exception:  # noqa: BLE001 - started again below
            pass
        if self.zygote is not None and self.zygote.ended:
            await self._discard_next()
            await self.zygote.close()
            self.zygote = Zygote(self.zygote.root, self.runs, self.limits, gpu=self.gpu,
                                 preload=self.preload)
            await self.zygote.start()
            self._next = asyncio.ensure_future(self._start())
        return await self._start()

    async def _discard_next(self) -> None:
        if self._next is not None:
            try:
                kernel = await self._next
                await kernel.close()
            except BaseException:  # noqa: BLE001
                pass
            self._next = None

    async def close(self) -> None:
        await self._discard_next()
        if self.zygote is not None:
            await self.zygote.close()
        shutil.rmtree(self.runs, ignore_errors=True)


def preload_modules(nb) -> list[str]:
    """What every kernel of this assignment imports: the instructor's locked cells' imports,
    what the first optimizer step imports lazily (torch._dynamo), ipykernel and the probe."""
    modules = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or meta.get("solution"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                modules += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules.append(node.module)
    if any(m.split(".")[0] == "torch" for m in modules):
        modules.append("torch._dynamo")
    modules += ["ipykernel.kernelapp", "matplotlib_inline.backend_inline", "lrlab.probe"]
    return list(dict.fromkeys(modules))


def course_preload(course: Course) -> list[str]:
    """What the zygote imports: ``preload_modules`` of every assignment's notebooks, so that one
    worker can grade any assignment of the course."""
    return list(dict.fromkeys(m for a in course.assignments()
                              for nb in course.source_notebooks(a).values() for m in preload_modules(nb)))


def read_submission(path: Path):
    """(notebook, "") or (None, why it cannot be graded)."""
    import nbformat
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return None, f"larger than {MAX_NOTEBOOK_BYTES >> 20} MB"
    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same to the grader
        if "JSON" in str(e) or isinstance(e, ValueError):
            return None, "not valid JSON"
        return None, f"not a valid notebook: {type(e).__name__}"
    return nb, ""


def runtime_flags(nb) -> list[str]:
    """Timeouts, memory errors, exits and cut output, from the executed notebook."""
    flags = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                blob = f"{out.get('ename')} {out.get('evalue')}"
                if out.get("ename") in ("CellTimeoutError", "TimeoutError"):
                    flags.append(f"timeout (cell {i})")
                elif out.get("ename") == "MemoryError" or "can't allocate memory" in blob \
                        or "DefaultCPUAllocator" in blob or "std::bad_alloc" in blob:
                    flags.append(f"memory limit (cell {i})")
                elif out.get("ename") == "SystemExit":
                    flags.append(f"SystemExit (cell {i})")
                elif out.get("ename") == "OutputTooLarge":
                    flags.append(f"output too large (cell {i})")
            elif out.output_type == "stream" and CUT_MARK in out.get("text", ""):
                flags.append(f"huge output cut (cell {i})")
    return flags


class Worker:
    """Grades students of one assignment, one at a time, each in its own sandboxed kernel taken
    from ``pool`` (which may serve the course's other assignments too)."""

    def __init__(self, course: Course, assignment: str, pool: KernelPool, *, sandbox: bool = True):
        self.course, self.assignment, self.sandbox, self.pool = course, assignment, sandbox, pool
        self.notebooks = course.notebooks(assignment)
        self.source = course.source_notebooks(assignment)
        self.tests = {n: probes.tests_of(nb) for n, nb in self.source.items()}
        self.source_cells = {n: self._source_cells(n) for n in self.notebooks}
        self.config = course.config()
        # judges import these (and a first optimizer imports torch._dynamo): load them once
        import lrlab.groups, lrlab.models, lrlab.quiz, torch._dynamo  # noqa: F401,E401
        self.budget = course.time_budget(self.source)
        self._reference: dict[str, float | None] = {}     # seconds of the instructor's notebook

    def _resources(self, notebook: str, student: str) -> dict:
        return {"nbgrader": {"notebook": notebook, "assignment": self.assignment,
                             "student": student, "db_url": self.course.db_url},
                "metadata": {"path": "", "name": notebook}}

    def _sanitise(self, nb, resources):
        from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds,
                                            OverwriteCells, OverwriteKernelspec)
        for pp in (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata):
            nb, resources = pp(config=self.config).preprocess(nb, resources)
        return nb

    async def grade(self, student: str) -> Result:
        start = time.monotonic()
        res = Result(student, self.assignment, sandboxed=self.sandbox)
        sub = self.course.step("submitted") / student / self.assignment
        readable = {}
        for name in self.notebooks:
            path = sub / f"{name}.ipynb"
            if not path.exists():
                res.flags.append(f"missing notebook {name}.ipynb")
                continue
            nb, why = read_submission(path)
            if nb is None:
                res.flags.append(f"invalid notebook {name}.ipynb ({why})")
                continue
            readable[name] = nb
            res.flags += scan.integrity(nb, self.source_cells[name])
            res.flags += [str(f) for f in scan.tampering(nb, self.source[name])]
        res.timings["checks"] = time.monotonic() - start
        if len(readable) < len(self.notebooks) and any(f.startswith("invalid") for f in res.flags):
            res.seconds = time.monotonic() - start
            return res
        out_dir = self.course.step("autograded") / student / self.assignment
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
        for f in sub.iterdir():
            if f.is_file() and f.suffix != ".ipynb":
                shutil.copy(f, out_dir / f.name)
        graded = True
        for name, nb in readable.items():
            why = await self._run(name, nb, student, res, out_dir)
            if why:
                res.flags.append(why)
                graded = False
        if graded:
            res.status = GRADED
        else:
            shutil.rmtree(out_dir, ignore_errors=True)
        res.seconds = time.monotonic() - start
        return res

    def _source_cells(self, name: str) -> dict:
        """{grade_id: ({checksums of the instructor's versions}, is_test)} (see scan.integrity)."""
        from nbgrader.utils import compute_checksum
        released = self.course.release / self.assignment / f"{name}.ipynb"
        versions = [self.source[name]]
        if released.exists():
            import nbformat
            versions.append(nbformat.read(released, as_version=4))
        cells: dict = {}
        for nb in versions:
            for cell in nb.cells:
                meta = cell.get("metadata", {}).get("nbgrader", {})
                gid = meta.get("grade_id")
                if not gid or meta.get("solution") or not (meta.get("locked") or meta.get("grade")):
                    continue
                entry = cells.setdefault(gid, (set(), bool(meta.get("grade"))))
                entry[0].add(compute_checksum(cell))
                if meta.get("checksum"):
                    entry[0].add(meta["checksum"])
        return cells

    def _probes_in(self, nb, name: str) -> None:
        """Each test cell of ``nb`` replaced by the form it runs in the kernel (its probe)."""
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in self.tests[name]:
                cell.source = self.tests[name][gid].kernel_source

    def _client(self, nb, kernel: Kernel, resources: dict) -> GradingClient:
        """A bounded client for ``nb`` on ``kernel``, already connected (while the previous
        student ran)."""
        client = GradingClient(nb, kernel.km, timeout=self.course.timeout,
                               max_output=self.course.max_output_bytes,
                               max_total=self.course.max_output_total, resources=resources)
        client.kc = kernel.kc
        return client

    async def _run(self, name: str, nb, student: str, res: Result, out_dir: Path) -> str:
        """Run one notebook and judge its tests; '' when graded, else why not."""
        import nbformat
        from nbgrader.preprocessors import LimitOutput

        t = time.monotonic()
        resources = self._resources(name, student)
        try:
            nb = self._sanitise(nb, resources)
        except Exception as e:  # noqa: BLE001 - a notebook nbgrader cannot read
            return f"not graded: nbgrader could not read {name}.ipynb ({type(e).__name__}: {e})"[:300]
        tests = self.tests[name]
        self._probes_in(nb, name)
        try:
            kernel = await self.pool.take()
        except Exception as e:  # noqa: BLE001 - twice: this student is not graded, say why
            return f"the grading kernel did not start ({type(e).__name__}: {e}): not graded"[:300]
        res.timings["kernel_ready"] = res.timings.get("kernel_ready", 0) + time.monotonic() - t
        t = time.monotonic()
        client = self._client(nb, kernel, resources)
        why = ""
        try:
            await asyncio.wait_for(client.async_execute(), self.budget)
        except Exception as e:  # noqa: BLE001 - the kernel's failure is the student's, say which
            kind = type(e).__name__
            if kind == "DeadKernelError" or not await _alive(kernel):
                why = f"kernel died ({kernel.died_why()}): not graded"
            elif kind == "CellTimeoutError":
                why = "a cell ignored the timeout interrupt (e.g. catches KeyboardInterrupt): not graded"
            elif isinstance(e, TimeoutError):
                why = f"grading took longer than {self.budget:.0f} s: not graded"
            else:
                why = f"grading failed: {kind}: {str(e)[:120]}"
        finally:
            if kernel.cgroup and kernel.cgroup.out_of_memory() and not why:
                res.flags.append(f"the student's memory limit was hit ({name}.ipynb)")
            if not why:
                res.flags += [f"filled its {place} ({name}.ipynb)" for place in kernel.filled()]
            await kernel.close()
        seconds = time.monotonic() - t
        res.timings["run"] = res.timings.get("run", 0) + seconds
        if why:
            return why
        if seconds > SLOW_FLOOR_S:
            reference = await self._reference_seconds(name)
            if reference is not None and seconds > SLOW_FACTOR * reference:
                res.flags.append(f"slow: {name}.ipynb ran {seconds:.0f} s, the instructor's "
                                 f"notebook {reference:.1f} s on the same grader")
        t = time.monotonic()
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if gid in tests:
                verdict = probes.judge(tests[gid], cell.get("outputs", []))
                probes.apply(cell, tests[gid], verdict)
                if verdict.disagrees:
                    res.flags.append(f"{gid} passed in the notebook but not when re-checked")
        res.flags += runtime_flags(nb)
        nb, _ = LimitOutput(config=self.config).preprocess(nb, resources)
        nbformat.write(nb, out_dir / f"{name}.ipynb")
        res.timings["judge"] = res.timings.get("judge", 0) + time.monotonic() - t
        return ""


    async def _reference_seconds(self, name: str) -> float | None:
        """Seconds the instructor's own notebook (its probes, no judging) takes to run in a
        kernel of this worker, timed here; measured once, None if it could not run."""
        if name not in self._reference:
            import copy
            nb = copy.deepcopy(self.source[name])
            self._probes_in(nb, name)
            self._reference[name] = None
            try:
                kernel = await self.pool.take()
            except Exception:  # noqa: BLE001 - no reference: no slow flag
                return None
            client = self._client(nb, kernel, self._resources(name, "_reference"))
            t = time.monotonic()
            try:
                await asyncio.wait_for(client.async_execute(), self.budget)
                self._reference[name] = time.monotonic() - t
            except Exception:  # noqa: BLE001
                pass
            finally:
                await kernel.close()
        return self._reference[name]


def _peak_mb() -> float:
    """This worker's peak resident memory so far (MiB): it must stay bounded."""
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def _alive(kernel: Kernel) -> bool:
    try:
        return await kernel.km.is_alive()
    except Exception:  # noqa: BLE001
        return False


async def serve(course: Course, assignment: str, *, sandbox: bool, gpu: bool) -> int:
    """The worker's main loop: a student id per line in (``{"student": ID}``, or with
    ``"assignment"`` another of the course's than ``assignment``), a result per line out. One
    kernel pool (one zygote) serves every assignment."""
    tmp = Path(tempfile.mkdtemp(prefix="lrlab-grade-"))
    os.chmod(tmp, 0o700)
    pool = KernelPool(tmp, course.limits, sandbox=sandbox, gpu=gpu, preload=course_preload(course))
    workers: dict[str, Worker] = {}
    out = sys.stdout
    sys.stdout = sys.stderr          # nothing else may write to the protocol stream
    loop = asyncio.get_running_loop()
    try:
        await pool.open()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return 0
            request = json.loads(line)
            name = course.check_assignment(request.get("assignment", assignment))
            if name not in workers:
                workers[name] = Worker(course, name, pool, sandbox=sandbox)
            res = await workers[name].grade(request["student"])
            res.timings["grader_peak_mb"] = _peak_mb()
            out.write(json.dumps({"result": res.__dict__}) + "\n")
            out.flush()
    finally:
        await pool.close()
        shutil.rmtree(tmp, ignore_errors=True)
