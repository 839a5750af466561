"""No submission can harm the grading: the sandbox, the whole-student limits, the batch that
goes on, the tamper-evident record, and the refusal to grade unsandboxed by accident.

The destructive samples of autograder/samples/ps1_param_groups are graded between two correct
"victim" students each; afterwards the victims have full marks in the gradebook and the export,
no process of the batch is left and nothing is left in /tmp.
"""
from __future__ import annotations

import asyncio
import csv
import json
import os
import re
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import ROOT, autograder_cli
from autograder import sandbox

A = "ps1_param_groups"
SAMPLES = ROOT / "autograder" / "samples" / A
FULL = json.loads((SAMPLES / "expected.json").read_text())["perfect"]["score"]   # full marks
DESTRUCTIVE = ["outlives_kernel", "zeroes_others", "locks_gradebook", "kills_batch", "plants_torch",
               "holds_pipe", "fork_bomb", "memory_forks", "huge_message", "ansi_exit",
               "finds_solutions"]
NO_SANDBOX = sandbox.problem()     # one probe, at collection
ATTACK_FILES = re.compile(r"^(blob\d+|f\d+|fill|planted|torch)$")   # what attackers try to leave in /tmp
pytestmark = [pytest.mark.grading,
              pytest.mark.skipif(NO_SANDBOX is not None, reason=f"no sandbox here: {NO_SANDBOX}")]


def _cli(*args, cwd, env=None):
    return autograder_cli(*args, cwd=cwd, env=env, timeout=1200)


def _our_processes(marker: str) -> list[str]:
    """Command lines of the processes whose command line holds ``marker`` (the batch's folder)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            found.append(f"{pid}: {cmd[:160]}")
    return found


def _tmp_entries() -> set[str]:
    return set(os.listdir(tempfile.gettempdir()))


def _cgroups() -> set[str]:
    """Every cgroup of ours (lrlab-*) on the machine."""
    base = Path("/sys/fs/cgroup")
    return {str(p) for p in base.glob("**/lrlab-*")} if base.is_dir() else set()


# --- the sandbox itself -------------------------------------------------------------------------
PROBE = r'''
import json, os, resource, socket, sys
out = {"uid": os.getuid(), "cwd": os.getcwd(), "env": sorted(os.environ),
       "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
       "cmdline": open("/proc/self/cmdline").read().replace("\0", " "),
       "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0],
       "caps": [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0],
       "as_mb": resource.getrlimit(resource.RLIMIT_AS)[0] >> 20}
for name, path in PATHS.items():
    out[name] = os.path.exists(path)
try:
    socket.create_connection(("127.0.0.1", PORT), timeout=2)
    out["loopback"] = "reached"
except OSError as e:
    out["loopback"] = type(e).__name__
for path in ("/usr/x", sys.prefix + "/x", os.path.dirname(__import__("lrlab").__file__) + "/x"):
    try:
        open(path, "w")
        out["wrote " + path] = True
    except OSError:
        pass
try:
    with open("/tmp/fill", "wb") as f:
        for _ in range(1000):
            f.write(b"x" * (1 << 20))
except OSError:
    pass
out["tmp_mb"] = os.path.getsize("/tmp/fill") >> 20
print(json.dumps(out))
'''


def test_a_grading_kernel_sees_only_what_a_notebook_needs(tmp_path):
    """A kernel forked by a worker's zygote, probed from the inside, while the next student's
    kernel is already waiting in the same zygote."""
    from autograder.sandbox import Limits
    from autograder.worker import KernelPool

    instructor = tmp_path / "instructor"
    (instructor / "submitted").mkdir(parents=True)
    (instructor / "gradebook.db").write_text("secret")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    root = Path(tempfile.mkdtemp(prefix="lrlab-grade-"))
    paths = {"solutions": str(ROOT / "solutions"), "gradebook": str(instructor / "gradebook.db"),
             "instructor": str(instructor), "home": os.path.expanduser("~/.bashrc"),
             "repo_readme": str(ROOT / "README.md")}
    limits = Limits()

    async def run() -> dict:
        pool = KernelPool(root, limits, sandbox=True, gpu=False, preload=["torch"])
        await pool.open()
        kernel = await pool.take()
        paths["next_kernel"] = str(pool.runs / "k2")     # started one student ahead, meanwhile
        for _ in range(100):
            if Path(paths["next_kernel"]).exists():
                break
            await asyncio.sleep(0.1)
        assert Path(paths["next_kernel"]).exists(), "the pool started no next kernel"
        code = PROBE.replace("PATHS", repr(paths)).replace("PORT", str(server.getsockname()[1]))
        kc = kernel.km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            lines = []
            await kc.execute_interactive(code, timeout=60, output_hook=lambda m: lines.append(
                m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
            return json.loads("".join(lines))
        finally:
            kc.stop_channels()
            await kernel.close()
            await pool.close()

    os.environ["LRLAB_INSTRUCTOR"] = str(instructor)   # must not reach the kernel
    try:
        seen = asyncio.run(run())
    finally:
        os.environ.pop("LRLAB_INSTRUCTOR")
        server.close()
        shutil.rmtree(root, ignore_errors=True)
    assert not any(seen[k] for k in paths), {k: seen[k] for k in paths}
    assert seen["loopback"] != "reached", "the kernel reached the host's loopback"
    assert not [k for k in seen if k.startswith("wrote ")], "a read-only folder was writable"
    assert seen["tmp_mb"] <= limits.tmp_mb
    assert seen["pids"] == [1, 2], f"the kernel sees other processes: {seen['pids']}"
    assert "LRLAB_INSTRUCTOR" not in seen["env"] and "PATH" in seen["env"]
    assert str(instructor) not in seen["cmdline"] and "key" not in seen["cmdline"]
    assert seen["nproc"] == limits.processes and seen["as_mb"] == limits.memory_mb
    assert seen["caps"] == "0000000000000000"
    assert seen["cwd"] == sandbox.HOME


def test_grade_refuses_without_a_sandbox_and_says_what_to_do(tmp_path):
    course, downloads = tmp_path / "course", tmp_path / "downloads"
    downloads.mkdir()
    shutil.copy(SAMPLES / "perfect.ipynb", downloads / "perfect.ipynb")
    assert _cli("collect", A, downloads, "--instructor", course, cwd=tmp_path).returncode == 0
    no_bwrap = tmp_path / "bin"
    no_bwrap.mkdir()
    env = {"PATH": f"{no_bwrap}{os.pathsep}{Path(sys.executable).parent}"}
    r = _cli("grade", A, "--instructor", course, "--quiet", cwd=tmp_path, env=env)
    assert r.returncode == 2, r.stderr
    assert "cannot sandbox" in r.stderr and "bubblewrap" in r.stderr and "--no-sandbox" in r.stderr
    r = _cli("grade", A, "--instructor", course, "--quiet", "--no-sandbox", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "WITHOUT a sandbox" in r.stderr
    assert _cli("export", "--instructor", course, cwd=tmp_path).returncode == 0
    with open(course / "grades.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert float(row["score"]) == FULL and "graded without a sandbox" in row["flags"] and row["flagged"] == "yes"


def _disk_bytes(folder: Path) -> int:
    total = 0
    for root, dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                pass
    return total


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return found


def _grade_batch(args, work: Path) -> dict:
    """``python -m autograder grade ARGS`` with a TMPDIR of its own (short enough that the
    kernels' sockets live there too), watched while it runs: the batch's peak memory (VmHWM),
    the disk used in its TMPDIR, its workers; then what it left behind: processes, files in its
    TMPDIR or attack files in the system's, and cgroups of its own (others may grade meanwhile)."""
    import subprocess
    import threading

    from autograder.kernel import short_folder

    batch_tmp = short_folder("sbx-")
    tmp_before = _tmp_entries()
    cgroups_before = _cgroups()
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "autograder", *map(str, args)], cwd=work,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(batch_tmp)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = {"batch_peak_mb": 0.0, "disk_peak_mb": 0.0, "pids": {proc.pid}}

    def watch():
        while proc.poll() is None:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
                seen["batch_peak_mb"] = max(seen["batch_peak_mb"], hwm)
            except (OSError, AttributeError):
                pass
            seen["pids"] |= _children(proc.pid)
            seen["disk_peak_mb"] = max(seen["disk_peak_mb"], _disk_bytes(batch_tmp) / 2**20)
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate(timeout=1200)
    seconds = time.monotonic() - start
    watcher.join()
    assert proc.returncode == 0, err[-3000:]
    time.sleep(3)          # time for any daemon an attacker left to do its damage
    mine = re.compile(r"lrlab-(probe-)?(\d+)-")
    left = {"processes": _our_processes(str(batch_tmp)) + _our_processes(str(work)),
            "tmp": sorted(os.listdir(batch_tmp)) + sorted(
                n for n in _tmp_entries() - tmp_before if ATTACK_FILES.match(n)),
            "cgroups": sorted(c for c in _cgroups() - cgroups_before
                              if int(mine.search(c).group(2)) in seen["pids"])}
    shutil.rmtree(batch_tmp, ignore_errors=True)
    return {"stdout": out, "seconds": seconds, "batch_peak_mb": seen["batch_peak_mb"],
            "disk_peak_mb": seen["disk_peak_mb"], "left": left}


# --- a class with attackers in it ----------------------------------------------------------------
@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """Each destructive sample between two correct victims, graded in one batch with 2 jobs."""
    work = tmp_path_factory.mktemp("attacked")
    downloads, course = work / "downloads", work / "course"
    downloads.mkdir()
    order = []
    for attack in DESTRUCTIVE:
        for student, sample in ((f"{attack}-v1", "perfect"), (attack, attack), (f"{attack}-v2", "perfect")):
            shutil.copy(SAMPLES / f"{sample}.ipynb", downloads / f"{student}.ipynb")
            order.append(student)
    assert _cli("collect", A, downloads, "--instructor", course, cwd=work).returncode == 0
    args = ["grade", A, "--instructor", course, "--quiet", "-j", "2", "--timeout", "10"]
    for s in order:
        args += ["--student", s]
    batch = _grade_batch(args, work)
    assert _cli("export", "--instructor", course, cwd=work).returncode == 0
    with open(course / "grades.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return {"course": course, "rows": rows, **batch}


def test_victims_keep_full_marks_around_every_destructive_sample(attacked):
    rows = attacked["rows"]
    for attack in DESTRUCTIVE:
        for victim in (f"{attack}-v1", f"{attack}-v2"):
            row = rows[victim]
            assert (float(row["score"]), row["status"], row["flags"]) == (FULL, "graded", ""), (victim, row)
    con = sqlite3.connect(attacked["course"] / "gradebook.db")
    try:
        scores = dict(con.execute(
            "SELECT student.id, SUM(COALESCE(grade.manual_score, grade.auto_score)) FROM grade "
            "JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
            "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
            "JOIN student ON submitted_assignment.student_id = student.id GROUP BY student.id"))
    finally:
        con.close()
    for attack in DESTRUCTIVE:
        assert scores[f"{attack}-v1"] == scores[f"{attack}-v2"] == FULL


def test_each_attacker_gets_what_its_own_answers_earn(attacked):
    expected = json.loads((SAMPLES / "expected.json").read_text())
    for attack in DESTRUCTIVE:
        row, want = attacked["rows"][attack], expected[attack]
        assert float(row["score"]) == want["score"], (attack, row)
        assert row["status"] == want.get("status", "graded"), (attack, row)


def test_nothing_is_left_behind(attacked):
    assert attacked["left"] == {"processes": [], "tmp": [], "cgroups": []}, attacked["left"]


def test_flags_and_csv_are_printable(attacked):
    text = (attacked["course"] / "grades.csv").read_text()
    assert not [c for c in text if ord(c) < 32 and c not in "\n\r"], "control characters in the CSV"
    assert "\\x1b" in attacked["rows"]["ansi_exit"]["flags"]       # shown escaped, not lost
    assert "\x1b" not in attacked["stdout"]


def test_the_grader_stays_bounded_on_a_200_mb_message(attacked):
    result = json.loads((attacked["course"] / "flags" / A / "huge_message.json").read_text())
    assert result["timings"]["grader_peak_mb"] < 1024, result["timings"]
    assert any("output too large" in f for f in result["flags"])


# --- one worker, one student after another ----------------------------------------------------
# The samples of each attack class that kernels of one worker could use against each other,
# graded in turn with correct classmates by one worker (-j 1): every kernel of the batch comes
# from the same fork server.
NEIGHBOURS = ["v1", "plants_everywhere", "looks_around", "v2", "fills_space", "v3", "links_stderr",
              "v4", "huge_metadata", "v5", "updates_displays", "v6", "sleeps_near_timeout", "v7"]
VICTIMS = [s for s in NEIGHBOURS if s.startswith("v")] + ["looks_around"]


def _table(course: Path, result, batch: dict) -> str:
    """The closing table of the neighbours batch (test-artifacts/neighbours.md)."""
    lines = ["| student | score | status | flags | feedback page | worker peak (MB) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for student in NEIGHBOURS:
        res = result(student)
        page = course / "feedback" / student / A / f"{A}.html"
        lines.append(f"| {student} | {res['score']:g} | {res['status']} | {'; '.join(res['flags']) or '-'} "
                     f"| {'yes' if page.exists() else 'no'} | {res['timings'].get('grader_peak_mb', 0):.0f} |")
    lines += ["", f"batch: {batch['seconds']:.0f} s, peak memory {batch['batch_peak_mb']:.0f} MB; "
              f"disk used in its TMPDIR at most {batch['disk_peak_mb']:.2f} MB; the course folder "
              f"after feedback {_disk_bytes(course) / 2**20:.1f} MB; left after it: {batch['left']}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def neighbours(tmp_path_factory):
    """Attackers and honest students in turn, graded in one batch by one worker (-j 1), then
    feedback and export; the batch's memory, its disk and what it leaves behind are watched."""
    import nbformat

    work = tmp_path_factory.mktemp("neighbours")
    downloads, course = work / "downloads", work / "course"
    downloads.mkdir()
    for student in NEIGHBOURS:
        sample = "perfect" if student.startswith("v") else student
        shutil.copy(SAMPLES / f"{sample}.ipynb", downloads / f"{student}.ipynb")
    assert _cli("collect", A, downloads, "--instructor", course, cwd=work).returncode == 0
    args = ["grade", A, "--instructor", course, "--quiet", "-j", "1", "--timeout", "10"]
    for s in NEIGHBOURS:
        args += ["--student", s]
    batch = _grade_batch(args, work)
    feedback = _cli("feedback", A, "--instructor", course, cwd=work)
    assert _cli("export", "--instructor", course, cwd=work).returncode == 0

    def result(student: str) -> dict:
        return json.loads((course / "flags" / A / f"{student}.json").read_text())

    def printed(student: str) -> str:
        nb = nbformat.read(course / "autograded" / student / A / f"{A}.ipynb", as_version=4)
        return "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))

    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "neighbours.md").write_text(_table(course, result, batch))
    return {"course": course, "result": result, "printed": printed, "batch": batch,
            "feedback": feedback}


def test_honest_students_between_attackers_are_graded_in_full(neighbours):
    for student in VICTIMS:
        res = neighbours["result"](student)
        assert (res["score"], res["status"], res["flags"]) == (FULL, "graded", []), (student, res)


def test_every_honest_neighbour_gets_a_feedback_page(neighbours):
    for student in VICTIMS:
        page = neighbours["course"] / "feedback" / student / A / f"{A}.html"
        assert page.is_file() and f"Score: {FULL:.1f} / {FULL:.1f}" in page.read_text(), student


def test_nothing_a_kernel_leaves_reaches_the_next_kernel_of_its_worker(neighbours):
    res = neighbours["result"]("plants_everywhere")
    assert (res["score"], res["status"]) == (FULL, "graded"), res
    assert "found: []" in neighbours["printed"]("looks_around")


def test_a_kernel_that_fills_its_space_is_flagged_and_the_run_folder_is_read_only(neighbours):
    res = neighbours["result"]("fills_space")
    assert (res["score"], res["status"]) == (FULL, "graded"), res
    assert any(f.startswith("filled its /tmp") for f in res["flags"]), res["flags"]
    assert any(f.startswith("filled its home folder") for f in res["flags"]), res["flags"]
    assert "run folder: OSError" in neighbours["printed"]("fills_space")
    # 800 MB and 20,000 files were tried: the batch's own folder never held more than a few MB
    assert neighbours["batch"]["disk_peak_mb"] < 64, neighbours["batch"]


def test_the_batch_leaves_nothing_behind(neighbours):
    assert neighbours["batch"]["left"] == {"processes": [], "tmp": [], "cgroups": []}, neighbours["batch"]["left"]


def test_a_symlinked_stderr_is_not_followed(neighbours, tmp_path):
    from autograder.kernel import stderr_tail

    res = neighbours["result"]("links_stderr")
    assert res["status"] != "graded" and any("kernel died" in f for f in res["flags"]), res
    passwd = Path("/etc/passwd").read_text().splitlines()[0]
    assert passwd not in json.dumps(res) and "root:" not in json.dumps(res), res
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / "stderr.txt").symlink_to(secret)
    (tmp_path / "fifo").mkdir()
    os.mkfifo(tmp_path / "fifo" / "stderr.txt")        # opened without waiting for a writer
    (tmp_path / "file").mkdir()
    (tmp_path / "file" / "stderr.txt").write_text("x" * 1000 + "last words\n")
    assert stderr_tail(tmp_path / "link") == stderr_tail(tmp_path / "fifo") == ""
    assert stderr_tail(tmp_path / "file", 20) == "x" * 9 + "last words\n"


def test_huge_metadata_and_display_updates_are_cut_and_the_grader_stays_bounded(neighbours):
    for student in ("huge_metadata", "updates_displays"):
        res = neighbours["result"](student)
        assert (res["score"], res["status"]) == (FULL, "graded"), res
        assert any(f.startswith("huge output cut") for f in res["flags"]), res["flags"]
        assert res["timings"]["grader_peak_mb"] < 1024, res["timings"]
        notebook = neighbours["course"] / "autograded" / student / A / f"{A}.ipynb"
        assert notebook.stat().st_size < 1 << 20, notebook.stat().st_size
        page = neighbours["course"] / "feedback" / student / A / f"{A}.html"
        assert page.stat().st_size < 2 << 20, page.stat().st_size
    assert neighbours["batch"]["batch_peak_mb"] < 1024, neighbours["batch"]
    printed = neighbours["printed"]("updates_displays")
    assert "second" not in printed and "yyyy" not in printed     # updates are ignored


def test_a_kernel_that_does_not_start_costs_its_own_student_only(tmp_path, monkeypatch):
    """The zygote ends between two students (as any failed start): the next take() starts a
    new one. When that fails too, take() raises (the worker grades that student "not graded",
    with the cause), and the student after gets a working kernel."""
    from autograder.sandbox import Limits
    from autograder.worker import KernelPool

    async def answer(kernel) -> str:
        lines = []
        await kernel.kc.execute_interactive("print(6 * 7)", timeout=60, output_hook=lambda m:
                                            lines.append(m["content"].get("text", "")))
        await kernel.close()
        return "".join(lines).strip()

    async def run() -> list:
        pool = KernelPool(tmp_path, Limits(), sandbox=True, gpu=False, preload=[])
        await pool.open()
        seen = []
        try:
            seen.append(await answer(await pool.take()))
            for hide_bwrap in (False, True, False):
                pool.zygote.proc.kill()
                await pool.zygote.proc.wait()
                if hide_bwrap:
                    monkeypatch.setenv("PATH", str(tmp_path))
                    with pytest.raises(Exception, match="bwrap"):
                        await pool.take()
                    monkeypatch.undo()
                seen.append(await answer(await pool.take()))
        finally:
            await pool.close()
        return seen

    assert asyncio.run(run()) == ["42"] * 4


# --- tamper evidence ------------------------------------------------------------------------------
def test_export_flags_a_gradebook_or_record_that_grading_did_not_produce(attacked, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(attacked["course"], course)
    con = sqlite3.connect(course / "gradebook.db")
    con.execute("UPDATE grade SET auto_score = 100 WHERE notebook_id IN (SELECT sn.id FROM "
                "submitted_notebook sn JOIN submitted_assignment sa ON sn.assignment_id = sa.id "
                "WHERE sa.student_id = 'outlives_kernel')")
    con.commit()
    con.close()
    result = course / "flags" / A / "zeroes_others.json"
    data = json.loads(result.read_text())
    data["flags"] = []
    result.write_text(json.dumps(data))
    assert _cli("export", "--instructor", course, cwd=tmp_path).returncode == 0
    with open(course / "grades.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert rows["outlives_kernel"]["flagged"] == "yes"
    assert "differs from grading's" in rows["outlives_kernel"]["flags"]
    assert "result file differs" in rows["zeroes_others"]["flags"]
    ledger = course / "ledger" / f"{A}.jsonl"
    lines = ledger.read_text().splitlines()
    first = json.loads(lines[0])
    first["result"]["score"] += 1
    lines[0] = json.dumps(first, sort_keys=True)
    ledger.write_text("\n".join(lines) + "\n")
    assert _cli("export", "--instructor", course, cwd=tmp_path).returncode == 0
    assert "does not follow the line before" in (course / "grades.csv").read_text()



def _cpu_seconds(pids) -> float:
    """User + system CPU time the processes have used so far (/proc/PID/stat)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def test_a_students_processes_share_one_cpu():
    """The student's cgroup caps its processes together at one CPU: two that spin get about one
    core's time between them, not two."""
    import subprocess

    from autograder.sandbox import PERIOD_US, Cgroup, Limits

    cgroup = Cgroup.create(f"lrlab-test-{os.getpid()}", Limits())
    if cgroup is None:
        pytest.skip("no cgroup can be made here")
    caps = [f for d in cgroup.dirs for f in (d / "cpu.cfs_quota_us", d / "cpu.max") if f.exists()]
    if not caps:
        cgroup.remove()
        pytest.skip("no cpu controller for the grader here")
    spin = "import time\nend = time.process_time() + 60\nwhile time.process_time() < end: pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(2)]
    try:
        assert caps[0].read_text().split()[0] == str(PERIOD_US)   # one CPU's worth per period
        for p in procs:
            cgroup.add(p.pid)
        start, before = time.monotonic(), _cpu_seconds(p.pid for p in procs)
        time.sleep(3)
        used, wall = _cpu_seconds(p.pid for p in procs) - before, time.monotonic() - start
    finally:
        for p in procs:
            p.kill()
            p.wait()
        cgroup.remove()
    assert used <= 1.2 * wall, f"two spinning processes used {used:.1f} s of CPU in {wall:.1f} s"


def test_a_run_far_slower_than_the_instructors_is_flagged(neighbours):
    res = neighbours["result"]("sleeps_near_timeout")     # 36 s of sleep; the solution runs in a few seconds
    assert (res["score"], res["status"]) == (FULL, "graded"), res
    assert len(res["flags"]) == 1 and res["flags"][0].startswith("slow: ps1_param_groups.ipynb ran"), res
