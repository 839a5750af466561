"""Read a submission for what nbgrader does not report: tampering, exits, edited test cells.

Two checks, both on the notebook file (no code is run):

* ``integrity``: test and read-only cells compared with the gradebook's checksums -> edited or
  deleted cells (nbgrader restores them before grading; the flag tells the instructor).
* ``tampering``: the student's own cells parsed with ``ast`` -> patches of shared objects
  (``torch.allclose = ...``, ``setattr(math, ...)``, ``sys.modules``, builtins shadowed,
  names the tests rely on rebound, IPython hooks), dynamic code (``exec``, ``eval``),
  shell commands, paths into the grader's files, and exits (``os._exit``, ``sys.exit``).

A static scan is a tripwire, not a sandbox: code built at run time from strings that avoids
every listed name is not seen. See the threat model in autograder/README.md.
"""
from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

TAMPER, EXIT = "tampering", "exit"

_MODULE_NAMES = {"torch", "nn", "F", "np", "numpy", "math", "builtins", "lrlab", "sys", "os",
                 "nbgrader", "ipykernel", "IPython", "unittest", "pytest", "operator", "functools"}
_BAD_CALLS = {"setattr": "setattr()", "delattr": "delattr()", "exec": "exec()", "eval": "eval()",
              "compile": "compile()", "__import__": "__import__()", "breakpoint": "breakpoint()"}
_BAD_ATTRS = {"__dict__", "__globals__", "__code__", "__builtins__", "__subclasses__",
              "__closure__", "__defaults__", "__kwdefaults__", "__getattribute__", "__bases__",
              "__mro__", "_getframe", "settrace", "setprofile", "f_globals",
              "f_locals", "f_back", "reload", "events", "input_transformers_post",
              "ast_transformers", "register_magic_function"}
_BAD_NAMES = {"builtins", "__builtins__", "ctypes", "importlib", "subprocess", "pty",
              "multiprocessing", "signal"}
_BAD_DOTTED = {("gc", "get_referrers"), ("gc", "get_referents"), ("gc", "get_objects"),
               ("inspect", "currentframe"), ("inspect", "stack"), ("inspect", "getouterframes")}
_NAMESPACE_CALLS = {"globals", "vars", "locals"}
# builtins a test is likely to call; shadowing one is flagged when no source notebook is given
_CORE_BUILTINS = {"isinstance", "type", "float", "int", "str", "abs", "len", "print", "any",
                  "all", "AssertionError", "ValueError", "TypeError", "getattr", "id", "sorted",
                  "range", "set", "list", "dict", "tuple", "bool", "max", "min", "sum", "round"}
_EXITS = {("os", "_exit"): "os._exit()", ("sys", "exit"): "sys.exit()", ("os", "abort"): "os.abort()",
          ("os", "kill"): "os.kill()", ("os", "killpg"): "os.killpg()"}
_SHELL = {("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "execvp"), ("os", "spawnv"),
          ("os", "fork"), ("os", "remove"), ("os", "unlink"), ("os", "rename"), ("os", "replace"),
          ("shutil", "rmtree"), ("shutil", "copy"), ("shutil", "move")}
_GRADER_WORDS = ("solutions", "gradebook", "autograded", "submitted", "nbgrader", ".db",
                 "instructor", "release")
_SAFE_MAGICS = {"pip", "matplotlib", "time", "timeit", "config", "load_ext", "autoreload"}
_BUILTINS = set(dir(builtins)) - {"_", "__name__", "__doc__", "copyright", "credits", "license"}


@dataclass(frozen=True)
class Finding:
    kind: str      # TAMPER or EXIT
    cell: int      # index in the notebook
    what: str

    def __str__(self) -> str:
        return f"{self.what} (cell {self.cell})"


def _python(source: str) -> str:
    """IPython syntax (%magics, !shell) as plain Python, so ast can read it."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - no IPython or odd input: read it as it is
        return source


def _root(node) -> ast.AST:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node


def _dotted(node) -> tuple[str, ...]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return tuple(reversed(parts))
    return ()


def _imported(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def _bound(tree) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.arg):
            pass
    return out


def _honest_import(alias, node) -> bool:
    """An import that binds the name it imports (``import torch``, ``from lrlab.models import
    mlp``, ``import numpy as np``): re-importing what a read-only cell imported is not a rebind."""
    if isinstance(node, ast.Import):
        return alias.asname is None or alias.asname in ("np", "nn", "F", "plt", "pd") \
            or alias.asname == alias.name.split(".")[-1]
    return alias.asname is None or alias.asname == alias.name


def _top_bound(tree, imports: bool = True) -> set[str]:
    """Names a cell binds in the notebook's global namespace (not inside functions); with
    ``imports=False`` names bound by honest imports are left out."""
    out = set()

    def visit(node, top):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if top:
                out.add(node.name)
            if isinstance(node, ast.ClassDef):
                return
            for child in node.body:
                visit_global(child, node)
            return
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            return
        if top and isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        if top and isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names
                       if imports or not _honest_import(a, node))
        for child in ast.iter_child_nodes(node):
            visit(child, top)

    def visit_global(node, func):
        # `global x` inside a function makes its assignments global
        declared = {n for g in ast.walk(func) if isinstance(g, ast.Global) for n in g.names}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store) and sub.id in declared:
                out.add(sub.id)

    for stmt in tree.body:
        visit(stmt, True)
    return out


def _loaded_free(trees) -> set[str]:
    loaded, stored = set(), set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Name):
                (loaded if isinstance(node.ctx, ast.Load) else stored).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                stored.add(node.name)
            elif isinstance(node, ast.arg):
                stored.add(node.arg)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                stored.add(node.name)          # except ... as e: the test's own name
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                stored |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return loaded - stored


def _parse(source: str):
    try:
        return ast.parse(_python(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def is_student_cell(cell) -> bool:
    """Cells the student can change: solution cells and cells without nbgrader metadata."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and (meta.get("solution") or not
                                                (meta.get("grade") or meta.get("locked")))


def protected_names(source_nb) -> tuple[set[str], set[str]]:
    """(names the tests and read-only cells rely on, names the student is asked to define)."""
    fixed, answers = [], set()  # fixed: test cells
    for cell in source_nb.cells:
        if cell.cell_type != "code":
            continue
        tree = _parse(cell.source)
        if tree is None:
            continue
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            answers |= _top_bound(tree)
        elif meta.get("grade"):
            fixed.append(tree)
    relied = set().union(*(_loaded_free([t]) for t in fixed)) if fixed else set()
    return relied - answers, answers


def tampering(nb, source_nb=None) -> list[Finding]:
    """Static findings in the student's cells of ``nb`` (see the module docstring)."""
    if source_nb is not None:
        relied, answers = protected_names(source_nb)
        guarded_builtins = relied & _BUILTINS
        relied -= _BUILTINS
    else:
        relied, answers, guarded_builtins = set(), set(), _CORE_BUILTINS
    trees = {}
    for i, cell in enumerate(nb.cells):
        if cell.get("cell_type") == "code":
            tree = _parse(cell.get("source", ""))
            if tree is not None:
                trees[i] = tree
    modules = _MODULE_NAMES | {n for t in trees.values() for n in _imported(t)}
    found: list[Finding] = []
    for i, tree in trees.items():
        if not is_student_cell(nb.cells[i]):
            continue
        seen = set()

        def add(kind, what):
            if what not in seen:
                seen.add(what)
                found.append(Finding(kind, i, what))

        for node in ast.walk(tree):
            targets = []
            if isinstance(node, (ast.Assign, ast.Delete)):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            for t in targets:
                for sub in ast.walk(t):
                    if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                        root = _root(sub)
                        if isinstance(root, ast.Name) and root.id in modules:
                            add(TAMPER, f"patches {'.'.join(_dotted(sub)) or root.id}")
                        elif sub.attr.startswith("__") and sub.attr.endswith("__"):
                            add(TAMPER, f"assigns {sub.attr}")
                    if isinstance(sub, ast.Subscript) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                        root = _root(sub.value)
                        if isinstance(root, ast.Name) and root.id in _BAD_NAMES | {"sys"} \
                                and not isinstance(sub.value, ast.Name):
                            add(TAMPER, f"writes into {'.'.join(_dotted(sub.value)) or root.id}")
                        if isinstance(sub.value, ast.Call) and isinstance(sub.value.func, ast.Name) \
                                and sub.value.func.id in _NAMESPACE_CALLS:
                            add(TAMPER, f"writes into {sub.value.func.id}()")
            if isinstance(node, ast.Call):
                name = _dotted(node.func)
                if isinstance(node.func, ast.Name) and node.func.id in _BAD_CALLS:
                    add(TAMPER, f"calls {_BAD_CALLS[node.func.id]}")
                if isinstance(node.func, ast.Name) and node.func.id in ("exit", "quit"):
                    add(EXIT, f"calls {node.func.id}()")
                if name[-2:] in _EXITS:
                    add(EXIT, f"calls {_EXITS[name[-2:]]}")
                if name[-2:] in _BAD_DOTTED:
                    add(TAMPER, f"calls {'.'.join(name[-2:])}()")
                if isinstance(node.func, ast.Attribute) and node.func.attr in ("update", "__setitem__") \
                        and isinstance(node.func.value, ast.Call) \
                        and isinstance(node.func.value.func, ast.Name) \
                        and node.func.value.func.id in _NAMESPACE_CALLS:
                    add(TAMPER, f"writes into {node.func.value.func.id}()")
                if name[-2:] in _SHELL:
                    add(TAMPER, f"calls {'.'.join(name[-2:])}()")
                if isinstance(node.func, ast.Attribute) and node.func.attr in (
                        "system", "getoutput") and isinstance(node.func.value, ast.Call):
                    add(TAMPER, "runs a shell command (!)")
                if name and name[-1] in ("run_line_magic", "run_cell_magic"):
                    magic = node.args[0].value if node.args and isinstance(
                        node.args[0], ast.Constant) else "?"
                    if magic not in _SAFE_MAGICS:
                        add(TAMPER, f"runs the %{magic} magic")
            if isinstance(node, ast.Attribute) and node.attr in _BAD_ATTRS:
                add(TAMPER, f"uses .{node.attr}")
            if isinstance(node, ast.Name) and node.id in _BAD_NAMES:
                add(TAMPER, f"uses {node.id}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) \
                    else [node.module or ""]
                for m in mods:
                    if m.split(".")[0] in _BAD_NAMES:
                        add(TAMPER, f"imports {m}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                low = node.value.lower()
                pathlike = "/" in low or "\\" in low or low.endswith((".db", ".ipynb", ".json")) \
                    or low.strip() in _GRADER_WORDS
                hit = next((w for w in _GRADER_WORDS if w in low), None) if pathlike else None
                if hit:
                    add(TAMPER, f"refers to grader files ({hit!r})")
        top = _top_bound(tree)
        for name in sorted(top & guarded_builtins):
            add(TAMPER, f"shadows the builtin {name}")
        for name in sorted((_top_bound(tree, imports=False) - answers) & relied):
            add(TAMPER, f"rebinds {name}, which the tests use")
    return found


def integrity(nb, source_cells) -> list[str]:
    """Edited / deleted test and read-only cells. ``source_cells``: {grade_id: (checksums of
    the instructor's versions, is_test)}."""
    from nbgrader.utils import compute_checksum

    flags = []
    present = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id")
        if gid:
            present[gid] = cell
    for gid, (checksums, is_test) in sorted(source_cells.items()):
        what = "test cell" if is_test else "read-only cell"
        if gid not in present:
            flags.append(f"deleted {what} {gid}")
            continue
        try:
            same = compute_checksum(present[gid]) in checksums
        except Exception:  # noqa: BLE001 - malformed metadata counts as edited
            same = False
        if not same:
            flags.append(f"edited {what} {gid}")
    return flags
