"""The classroom end to end: a real JupyterHub, real Unix accounts, nbgrader's exchange, Chromium.

``python -m classroom`` (what ``make classroom`` runs) starts the hub on a free port with a test
roster (accounts ``lrt-teacher``, ``lrt-ada``, ``lrt-ben``, created by it and removed after).
Each person has their own browser context; every step leaves a screenshot in
test-artifacts/classroom_NN_*.png and its time in test-artifacts/classroom_steps.txt:

 1. the instructor opens the formgrader (its frame loads under JupyterHub 6) and releases ps1
 2. ada fetches ps1 from the Assignments tab, fills in correct answers, presses Validate
    (success), submits
 3. ben fetches ps1 and submits the release untouched
 4. the instructor collects (formgrader), grades and writes feedback with ``python -m autograder``
    in a JupyterLab terminal, releases the feedback (formgrader)
 5. ada fetches the feedback and opens it: full marks
 6. a late ps4 (the bundled perfect sample, by e-mail) is collected and graded on the command
    line; the instructor gives its answers graded by hand full points in the formgrader;
    ``python -m autograder export`` shows full marks for ada's ps4 and ps1, 0 for ben's ps1

Between steps the exchange's permissions are checked as the users themselves (runuser).
"""
from __future__ import annotations

import csv
import json
import os
import pwd
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from autograder.samplekit import grade_id
from conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ROOT, stop_group, wait_until_up

sys.path.insert(0, str(ROOT))
from classroom.settings import ClassroomError, Settings  # noqa: E402

TIMEOUT_MS = 90_000
TEACHER, ADA, BEN = "lrt-teacher", "lrt-ada", "lrt-ben"
PS1, PS4 = "ps1_param_groups", "ps4_loss_curves"
PS1_FULL = json.loads((ROOT / "autograder" / "samples" / PS1 / "expected.json").read_text())["perfect"]["score"]
PS4_AUTO = json.loads((ROOT / "autograder" / "samples" / PS4 / "expected.json").read_text())["perfect"]["score"]


def _manual_points(assignment: str) -> dict[str, float]:
    """The points of each answer graded by hand, from the assignment's source notebook."""
    import nbformat
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return {m["grade_id"]: m["points"] for m in (c.metadata.get("nbgrader", {}) for c in nb.cells)
            if m.get("solution") and m.get("grade")}


# --- the roster and settings (no hub) ------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    ('course = "lrlab"\ninstructors = []\nstudents = ["a"]\n', "at least one instructor"),
    ('course = "lrlab"\ninstructors = ["t"]\nstudents = ["Ada Lovelace"]\n', "'Ada Lovelace' must be"),
    ('course = "lrlab"\ninstructors = ["t"]\nstudents = ["t"]\n', "appears twice"),
    ('course = "lrlab"\ninstructors = ["t"]\n', "lacks students"),
    ('course = "LR lab"\ninstructors = ["t"]\nstudents = []\n', "course 'LR lab'"),
    ('course = "lrlab"\ninstructors = ["t"\n', "not valid TOML"),
])
def test_a_bad_roster_gets_a_clear_error(tmp_path, text, message):
    roster = tmp_path / "roster.toml"
    roster.write_text(text)
    with pytest.raises(ClassroomError, match=message.replace("(", r"\(")):
        Settings.read(roster)


def test_each_role_gets_its_own_jupyter_config_and_the_instructor_the_autograder(tmp_path):
    s = Settings.read(ROOT / "classroom" / "roster.toml", state=tmp_path)
    teacher, student = s.instructors[0], s.students[0]
    t, st = s.environment(teacher), s.environment(student)
    assert t["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0].endswith("instructor")
    assert st["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0].endswith("student")
    assert t["LRLAB_INSTRUCTOR"] == str(s.instructor_folder(teacher))
    assert "LRLAB_INSTRUCTOR" not in st and "PYTHONPATH" not in st, "students get no grader paths"
    assert t["LRLAB_EXCHANGE"] == st["LRLAB_EXCHANGE"] == str(s.exchange)
    student_cfg = json.loads((ROOT / "classroom/config/student/jupyter_server_config.json").read_text())
    assert student_cfg["ServerApp"]["jpserver_extensions"]["nbgrader.server_extensions.formgrader"] is False


# --- scale-out: the Zero to JupyterHub recipe (parsed, not run) -----------------------------
K8S = ROOT / "classroom" / "k8s"


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (K8S / "Dockerfile").read_text())
    return [tuple(line.split(None, 1)) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_kubernetes_image_installs_the_course_as_the_classroom_does():
    steps = _dockerfile()
    assert steps[0][0] == "FROM" and steps[0][1].startswith("python:3.11"), "Python 3.11, as CI"
    runs = " ".join(args for op, args in steps if op == "RUN")
    assert re.search(r"pip install .*-c /src/constraints\.txt \"/src\[course,classroom\]\"", runs)
    assert "--mount=type=bind,source=.," in runs and not any(op in ("COPY", "ADD") for op, _ in steps), \
        "sources are bind-mounted, never copied into a layer (solutions/ stays out of the image)"
    assert "bubblewrap" in runs, "the autograder's sandbox needs bwrap"
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(args for op, args in steps if op == "ENV")))
    for folder in env["JUPYTER_CONFIG_PATH"].split(":"):
        assert (ROOT / "classroom/config" / Path(folder).name).is_dir(), folder
    user = next(args for op, args in steps if op == "USER")
    assert user.strip() not in ("0", "root"), "servers must not run as root"
    assert next(args for op, args in steps if op == "CMD") == '["jupyterhub-singleuser"]'


def test_the_helm_values_map_the_one_machine_classroom_onto_kubernetes():
    import yaml
    from traitlets.config import Config

    values = yaml.safe_load((K8S / "values.yaml").read_text())
    assert set(values) <= {"hub", "proxy", "singleuser", "cull", "scheduling", "prePuller", "ingress"}
    single = values["singleuser"]
    image_env = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for op, a in _dockerfile() if op == "ENV")))
    mounts = {m["mountPath"] for m in single["storage"]["extraVolumeMounts"]}
    assert single["extraEnv"]["LRLAB_EXCHANGE"] == image_env["LRLAB_EXCHANGE"] and \
        image_env["LRLAB_EXCHANGE"] in mounts, "every pod mounts the one exchange"
    assert values["hub"]["config"]["JupyterHub"]["subdomain_host"].startswith("https://"), \
        "the formgrader's frame needs per-user origins (subdomains), as on one machine"
    c = Config()
    exec(compile(values["hub"]["extraConfig"]["lrlab-roles.py"], "lrlab-roles.py", "exec"), {"c": c})
    allowed = set(values["hub"]["config"]["Authenticator"]["allowed_users"])
    spawners = {name: SimpleNamespace(user=SimpleNamespace(name=name), environment={})
                for name in allowed}
    assert len({c.KubeSpawner.uid(s) for s in spawners.values()}) == len(allowed), "one uid per user"
    for s in spawners.values():
        c.KubeSpawner.pre_spawn_hook(s)
    one_machine = Settings.read(ROOT / "classroom" / "roster.toml")
    teacher, student = (one_machine.environment(u) for u in one_machine.users[:2])
    assert set(spawners[one_machine.instructors[0]].environment) == \
        {key for key, value in teacher.items() if student.get(key) != value}, \
        "instructors get the same settings as on one machine"
    assert all(not s.environment for name, s in spawners.items() if name not in one_machine.instructors)
    assert allowed == set(one_machine.users), "the same roster as classroom/roster.toml"


# --- the hub -------------------------------------------------------------------------------
@dataclass
class Hub:
    url: str
    passwords: dict[str, str]
    exchange: Path
    homes: dict[str, Path]


def _free_base_port() -> int:
    """A port p with p, p+1, p+2 free on 127.0.0.1 (the proxy, the hub API, the proxy API)."""
    for _ in range(50):
        base = random.randint(20_000, 40_000)
        try:
            socks = [socket.create_server(("127.0.0.1", base + i)) for i in range(3)]
        except OSError:
            continue
        for s in socks:
            s.close()
        return base
    raise RuntimeError("no three free ports in a row")


def _remove_account(user: str) -> None:
    """End the account's processes (its server and kernels, started by this test), by id; remove it."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return
    for proc in psutil.process_iter(["uids"]):
        if proc.info["uids"] and proc.info["uids"].real == uid:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
    subprocess.run(["userdel", "--remove", user], capture_output=True)


def _hub_version(port: int) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hub/api", timeout=5) as r:
        assert "version" in json.loads(r.read())


def _as(user: str, *cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", *cmd], capture_output=True, text=True)


@pytest.fixture
def hub(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the classroom test creates Unix accounts: run it as root (CI does)")
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium")
    if not (ROOT / "classroom/node_modules/.bin/configurable-http-proxy").exists():
        subprocess.run(["npm", "ci", "--prefix", "classroom", "--no-audit", "--no-fund"], cwd=ROOT,
                       check=True, capture_output=True)
    roster, state = tmp_path / "roster.toml", tmp_path / "state"
    roster.write_text(f'course = "lrlab"\ninstructors = ["{TEACHER}"]\nstudents = ["{ADA}", "{BEN}"]\n')
    exchange = Path(tempfile.mkdtemp(prefix="lrlab-exchange-", dir="/tmp"))
    port = _free_base_port()
    args = [sys.executable, "-m", "classroom", "--roster", str(roster), "--port", str(port),
            "--state", str(state), "--exchange", str(exchange)]
    for user in (TEACHER, ADA, BEN):
        _remove_account(user)                           # left over from an interrupted run
    log = open(tmp_path / "hub.log", "wb")
    server = None
    try:
        prep = subprocess.run([*args, "--prepare-only"], cwd=ROOT, capture_output=True, text=True)
        assert prep.returncode == 0, prep.stderr[-3000:]
        passwords = dict(line.split() for line in (state / "passwords.txt").read_text().splitlines())
        server = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        wait_until_up(server, lambda: _hub_version(port), tmp_path / "hub.log", "the hub")
        yield Hub(f"http://localhost:{port}", passwords, exchange,
                  {u: Path(pwd.getpwnam(u).pw_dir) for u in (TEACHER, ADA, BEN)})
    finally:
        if server is not None:
            stop_group(server, grace=30)   # the hub stops the servers
        for user in (TEACHER, ADA, BEN):
            _remove_account(user)
        shutil.rmtree(exchange, ignore_errors=True)
        log.close()


# --- driving JupyterLab --------------------------------------------------------------------
class Steps:
    """Numbered screenshots and step times."""

    def __init__(self):
        self.start = self.last = time.monotonic()
        self.rows: list[str] = []
        ARTIFACTS.mkdir(exist_ok=True)
        for old in ARTIFACTS.glob("classroom_*"):
            old.unlink()

    def done(self, page, name: str) -> None:
        now = time.monotonic()
        n = len(self.rows) + 1
        page.screenshot(path=str(ARTIFACTS / f"classroom_{n:02d}_{name}.png"))
        self.rows.append(f"{n:2d}  {name:<28} {now - self.last:6.1f} s  (at {now - self.start:6.1f} s)")
        self.last = now
        (ARTIFACTS / "classroom_steps.txt").write_text("\n".join(self.rows) + "\n")


def _log_in(browser, hub: Hub, user: str):
    """Submit the hub's login form; the server spawns meanwhile. Returns the page and a list
    that receives the HTTP response of the user's JupyterLab page."""
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    lab = []
    page.on("response", lambda r: r.url.endswith(f"/user/{user}/lab") and lab.append(r))
    page.goto(f"{hub.url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.passwords[user])
    page.click("#login_submit")
    return page, lab


def _in_lab(page, lab: list):
    from playwright.sync_api import expect

    expect(page.locator("#jp-main-statusbar")).to_be_visible(timeout=3 * TIMEOUT_MS)  # spawned
    return lab[-1]


def _menu(page, top: str, item: str) -> None:
    page.locator("#jp-MainMenu").get_by_text(top, exact=True).click()
    page.locator(".lm-Menu-itemLabel").get_by_text(item, exact=True).click()


def _formgrader(page):
    _menu(page, "Nbgrader", "Formgrader")
    return page.frame_locator("#formgrader-iframe iframe")


def _first_formgrader(page):
    """Open the formgrader; returns its frame and the frame's HTTP response."""
    with page.expect_response(lambda r: "/formgrader" in r.url and r.request.resource_type == "document") as doc:
        fg = _formgrader(page)
    return fg, doc.value


def _formgrader_action(fg, assignment: str, column: str, success: str) -> None:
    from playwright.sync_api import expect

    row = fg.locator("tr", has=fg.locator("td.name", has_text=assignment))
    row.locator(f"td.{column} a").click()
    modal = fg.locator("#success-modal")
    expect(modal).to_contain_text(success)
    # A click on OK while the dialog still fades in can be lost (seen on a busy machine): wait
    # until it is fully shown, and click again until it is gone.
    expect(modal).to_have_css("opacity", "1")
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        modal.get_by_text("OK", exact=True).click()
        try:
            expect(modal).to_have_count(0, timeout=5_000)
            return
        except AssertionError:
            assert time.monotonic() < deadline, f"the formgrader's dialog ({success!r}) did not close"


def _terminal(page):
    from playwright.sync_api import expect

    _menu(page, "File", "New")
    page.locator(".lm-Menu-itemLabel").get_by_text("Terminal", exact=True).click()
    expect(page.locator(".jp-Terminal .xterm-screen")).to_be_visible()


def _shell(page, home: Path, line: str, timeout_s: float = 300) -> None:
    """Type a command into the open terminal; wait until it has finished and succeeded."""
    marker = home / ".lrlab-exit-status"
    marker.unlink(missing_ok=True)
    page.locator(".jp-Terminal .xterm-helper-textarea").focus()
    page.keyboard.type(f"{line}; echo $? > {marker}\n")
    deadline = time.monotonic() + timeout_s
    while not marker.exists() or not marker.read_text().strip():
        assert time.monotonic() < deadline, f"{line!r} did not finish in {timeout_s} s"
        time.sleep(0.5)
    assert marker.read_text().strip() == "0", f"{line!r} failed (see the terminal screenshot)"
    marker.unlink()


def _solution_cells(sample: Path) -> dict[str, str]:
    nb = json.loads(sample.read_text())
    return {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in nb["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def _fill_in(page, released: Path, answers: dict[str, str]) -> None:
    """Replace each answer cell's text in the open notebook, as a paste would; save."""
    from playwright.sync_api import expect

    cells = page.locator(".jp-Notebook .jp-Cell")
    for i, cell in enumerate(json.loads(released.read_text())["cells"]):
        gid = grade_id(cell)
        if gid in answers:
            cells.nth(i).locator(".cm-content").click()
            page.keyboard.press("Control+a")
            page.keyboard.insert_text(answers[gid])
            page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    expect(page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")).to_have_count(0)  # saved


# --- permissions ---------------------------------------------------------------------------
def _check_exchange_permissions(hub: Hub) -> None:
    course = hub.exchange / "lrlab"
    assert hub.exchange.stat().st_mode & 0o1777 == 0o1777, "the exchange must be sticky, world-writable"
    assert _as(BEN, "ls", str(course / "outbound" / PS1)).returncode == 0, "students read releases"
    assert _as(BEN, "touch", str(course / "outbound" / PS1 / "x")).returncode != 0, \
        "a student must not change a release"
    assert _as(BEN, "ls", str(course / "inbound")).returncode != 0, \
        "a student must not list the others' submissions"
    assert _as(BEN, "mv", str(course), str(hub.exchange / "gone")).returncode != 0, \
        "a student must not move the course's exchange folder away (sticky bit)"
    for private in (hub.homes[ADA] / PS1, hub.homes[TEACHER] / "grading",
                    hub.homes[TEACHER] / "lrlab" / "solutions"):
        assert private.exists() and _as(BEN, "ls", str(private)).returncode != 0, \
            f"{BEN} can read {private}"


def _csp(response) -> str:
    return response.headers.get("content-security-policy", "")


# --- the class -----------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.classroom
@pytest.mark.timeout(900)
def test_a_class_on_the_hub_releases_fetches_validates_submits_grades_and_gets_feedback(hub):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    steps = Steps()
    released = hub.homes[TEACHER] / "lrlab" / "exercises" / PS1 / f"{PS1}.ipynb"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        pages = []
        try:
            # the class logs in at once: three servers spawn side by side
            (teacher, teacher_lab), (ada, ada_lab), (ben, ben_lab) = logins = \
                [_log_in(browser, hub, user) for user in (TEACHER, ADA, BEN)]
            pages += [page for page, _ in logins]

            # 1. the instructor releases ps1 from the formgrader, framed in JupyterLab
            teacher.bring_to_front()
            _in_lab(teacher, teacher_lab)
            fg, frame = _first_formgrader(teacher)
            expect(fg.get_by_role("heading", name="Manage Assignments")).to_be_visible()
            assert _csp(frame) == "frame-ancestors 'self'", \
                "the formgrader's frame needs frame-ancestors 'self' on the instructor's server"
            _formgrader_action(fg, PS1, "release", f"Successfully released '{PS1}'")
            steps.done(teacher, "instructor_released_ps1")

            # 2. ada fetches, fills in the answers, validates, submits
            ada.bring_to_front()
            lab = _in_lab(ada, ada_lab)
            assert _csp(lab) == "frame-ancestors 'none'", "students keep JupyterHub's default"
            probe = ada.context.new_page()
            assert probe.goto(lab.url.replace("/lab", "/formgrader")).status == 404, \
                "students have no formgrader"
            probe.close()
            _menu(ada, "Nbgrader", "Assignment List")
            ada.locator("#released_assignments_list").get_by_role("button", name="Fetch").click()
            fetched = ada.locator("#fetched_assignments_list")
            fetched.locator("a.assignment-notebooks-link", has_text=PS1).click()
            steps.done(ada, "ada_fetched_ps1")
            fetched.locator(".nested_list_item a", has_text=PS1).click()
            expect(ada.locator("#jp-main-statusbar")).to_contain_text("Idle")
            _fill_in(ada, released, _solution_cells(ROOT / "autograder/samples" / PS1 / "perfect.ipynb"))
            ada.locator(".jp-Toolbar-item").get_by_text("Validate", exact=True).click()
            expect(ada.locator(".nbgrader-SuccessDialog")).to_contain_text(
                "Success! Your notebook passes all the tests.", timeout=2 * TIMEOUT_MS)
            steps.done(ada, "ada_validated")
            ada.locator(".nbgrader-SuccessDialog").get_by_role("button", name="Ok").click()
            ada.locator(".lm-TabBar-tab", has_text="Assignments").click()
            fetched.get_by_role("button", name="Submit").click()
            expect(ada.locator("#submitted_assignments_list")).to_contain_text(PS1)
            steps.done(ada, "ada_submitted")

            # 3. ben submits the release as fetched
            ben.bring_to_front()
            _in_lab(ben, ben_lab)
            _menu(ben, "Nbgrader", "Assignment List")
            ben.locator("#released_assignments_list").get_by_role("button", name="Fetch").click()
            ben.locator("#fetched_assignments_list").get_by_role("button", name="Submit").click()
            expect(ben.locator("#submitted_assignments_list")).to_contain_text(PS1)
            steps.done(ben, "ben_submitted_untouched")
            _check_exchange_permissions(hub)

            # 4. the instructor collects, grades and writes feedback with the course's autograder
            teacher.bring_to_front()
            fg = _formgrader(teacher)
            _formgrader_action(fg, PS1, "collect", f"Successfully collected submissions of '{PS1}'")
            expect(fg.locator("tr", has=fg.locator("td.name", has_text=PS1))
                   .locator("td.num-submissions")).to_have_text("2")
            steps.done(teacher, "instructor_collected")
            _terminal(teacher)
            _shell(teacher, hub.homes[TEACHER],
                   f"python -m autograder grade {PS1} -j 2 && python -m autograder feedback {PS1}")
            steps.done(teacher, "instructor_graded_in_terminal")
            fg = _formgrader(teacher)
            _formgrader_action(fg, PS1, "release-feedback", f"Successfully released feedback of '{PS1}'")
            steps.done(teacher, "instructor_released_feedback")

            # 5. ada fetches the feedback and opens it
            ada.bring_to_front()
            ada.locator(".lm-TabBar-tab", has_text="Assignments").click()
            ada.locator("#refresh_assignments_list").click()
            submitted = ada.locator("#submitted_assignments_list")
            expect(submitted).to_contain_text("feedback available to fetch")
            submitted.get_by_role("button", name="Fetch Feedback").click()
            submitted.get_by_text("(view feedback)").click()
            ada.locator(".jp-DirListing-item", has_text=f"{PS1}.html").dblclick()
            feedback = ada.frame_locator(".jp-HTMLViewer iframe").locator("body")
            expect(feedback).to_contain_text(f"{PS1} (Score: {PS1_FULL:.1f} / {PS1_FULL:.1f})")
            steps.done(ada, "ada_reads_feedback")

            # 6. a late ps4 by e-mail: graded on the command line, its free text by hand
            teacher.bring_to_front()
            teacher.locator(".lm-TabBar-tab", has_text=f"{TEACHER}@").first.click()
            _shell(teacher, hub.homes[TEACHER],
                   f"mkdir -p ~/late && cp ~/lrlab/autograder/samples/{PS4}/perfect.ipynb ~/late/{ADA}.ipynb"
                   f" && python -m autograder collect {PS4} ~/late && python -m autograder grade {PS4}")
            fg = _formgrader(teacher)
            fg.get_by_role("link", name="Manual Grading").click()
            fg.get_by_role("link", name=PS4).click()
            fg.get_by_role("link", name=PS4).click()
            manual = _manual_points(PS4)
            full = PS4_AUTO + sum(manual.values())
            submission = fg.locator("tbody tr").first
            expect(submission).to_contain_text(f"{PS4_AUTO:g} / {full:g}")
            # the page binds its inputs once the grades and comments are loaded: a value typed
            # before that is wiped by the render (seen on a busy machine)
            with teacher.expect_response(lambda r: "/formgrader/api/comments?" in r.url):
                submission.get_by_role("link").first.click()
            for grade_id, points in manual.items():
                free_text = fg.locator(f"input#{grade_id}")
                free_text.fill(f"{points:g}")
                with teacher.expect_response(lambda r: "/formgrader/api/grade/" in r.url
                                             and r.request.method == "PUT") as saved:
                    free_text.press("Tab")                  # the formgrader saves on change
                assert saved.value.ok, f"the formgrader did not save the manual grade of {grade_id}"
            free_text.scroll_into_view_if_needed()
            steps.done(teacher, "instructor_graded_free_text")
            teacher.locator(".lm-TabBar-tab", has_text=f"{TEACHER}@").first.click()
            _shell(teacher, hub.homes[TEACHER], "python -m autograder export")
            steps.done(teacher, "instructor_exported")
        except Exception:
            for n, page in enumerate(pages):
                page.screenshot(path=str(ARTIFACTS / f"classroom_failure_{n}.png"), full_page=True)
            raise
        finally:
            browser.close()

    with open(hub.homes[TEACHER] / "grading" / "grades.csv") as f:
        grades = {(r["student"], r["assignment"]): (r["score"], r["max_score"], r["status"])
                  for r in csv.DictReader(f)}
    full, ps4_full = f"{PS1_FULL:g}", PS4_AUTO + sum(_manual_points(PS4).values())
    assert grades == {(ADA, PS1): (full, full, "graded"), (BEN, PS1): ("0", full, "graded"),
                      (ADA, PS4): (f"{ps4_full:g}", f"{ps4_full:g}", "graded")}, grades
    print("\n".join(steps.rows))
