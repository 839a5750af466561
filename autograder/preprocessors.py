"""nbgrader preprocessors the course adds: bounded kernels, bounded output, redacted feedback."""
from __future__ import annotations

import re

from nbgrader.preprocessors import NbGraderPreprocessor as Preprocessor  # enabled by default
from nbgrader.preprocessors import Execute
from traitlets import Integer

from .kernel import LimitedKernelManager

CUT_MARK = "[autograder] output cut"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests: not shown in feedback)"


class LimitedExecute(Execute):
    """nbgrader's Execute, with kernels started under resource limits (see autograder.kernel)
    and in a scratch copy of the submission's folder: relative paths such as
    ``../../../gradebook.db`` or ``../../../solutions`` lead nowhere from there."""

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = LimitedKernelManager
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        import shutil
        import tempfile
        from pathlib import Path

        resources = resources if resources is not None else {}
        meta = resources.setdefault("metadata", {})
        here = meta.get("path")
        with tempfile.TemporaryDirectory(prefix="lrlab-grading-") as tmp:
            work = Path(tmp) / "a" / "b" / "work"   # parents hold nothing
            work.mkdir(parents=True)
            if here and Path(here).is_dir():
                for f in Path(here).iterdir():
                    if f.is_file() and f.suffix != ".ipynb":
                        shutil.copy(f, work / f.name)
                    elif f.is_dir() and not Path(tmp).resolve().is_relative_to(f.resolve()):
                        shutil.copytree(f, work / f.name, symlinks=True)
            meta["path"] = str(work)
            try:
                return super().preprocess(nb, resources, km=km)
            finally:
                meta["path"] = here


def _size(output) -> int:
    if output.get("output_type") == "stream":
        return len(output.get("text", ""))
    if output.get("output_type") == "error":
        return sum(len(line) for line in output.get("traceback", []))
    return sum(len(v) if isinstance(v, str) else len(str(v))
               for v in output.get("data", {}).values())


class CapOutput(Preprocessor):
    """Cut a cell's outputs to ``max_bytes`` (nbgrader's LimitOutput counts lines only: one
    50 MB line passes it). The cut leaves a marker the grader turns into a flag."""

    max_bytes = Integer(200_000, help="most characters of output kept per cell").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not cell.get("outputs"):
            return cell, resources
        total = sum(_size(o) for o in cell.outputs)
        if total <= self.max_bytes:
            return cell, resources
        budget, kept = self.max_bytes, []
        for out in cell.outputs:
            size = _size(out)
            if out.output_type == "error":
                kept.append(out)  # the error decides the score; tracebacks are line-limited
                continue
            if size <= budget:
                kept.append(out)
                budget -= size
            elif out.output_type == "stream" and budget > 0:
                out.text = out.text[:budget]
                kept.append(out)
                budget = 0
        from nbformat.v4 import new_output
        kept.append(new_output("stream", name="stdout",
                               text=f"\n{CUT_MARK}: {total} characters, limit {self.max_bytes}\n"))
        cell.outputs = kept
        return cell, resources


def _is_test_cell(cell) -> bool:
    nb = cell.metadata.get("nbgrader", {})
    return bool(nb.get("grade")) and not nb.get("solution")


def strip_hidden(source: str) -> str:
    """A test cell's source with every hidden-test region replaced by one comment line."""
    pattern = re.compile(rf"^[ \t]*{re.escape(HIDDEN_BEGIN)}.*?^[ \t]*{re.escape(HIDDEN_END)}[^\n]*",
                         re.S | re.M)
    out = pattern.sub(HIDDEN_NOTE, source)
    if HIDDEN_BEGIN in out:  # an unterminated region: drop everything after it
        out = out.split(HIDDEN_BEGIN)[0] + HIDDEN_NOTE
    return out


class RedactHidden(Preprocessor):
    """Feedback must not show hidden tests or answer keys. nbgrader's feedback prints the
    autograded notebook, whose test cells hold the hidden tests again, and tracebacks quote
    their lines. For each test cell with hidden tests: the hidden region becomes one comment
    line, and an error keeps only its type and message (no traceback lines)."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not _is_test_cell(cell):
            return cell, resources
        if HIDDEN_BEGIN not in cell.source and HIDDEN_NOTE not in cell.source:
            return cell, resources
        cell.source = strip_hidden(cell.source)
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                message = f"{out.ename}: {out.evalue}" if out.evalue else out.ename
                out.traceback = [message]
        return cell, resources


def autograde_preprocessors() -> list:
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import LimitOutput

    out = []
    for p in Autograde.class_traits()["autograde_preprocessors"].make_dynamic_default():
        out.append(LimitedExecute if p is Execute else p)
        if p is LimitOutput:
            out.append(CapOutput)
    return out


def feedback_preprocessors() -> list:
    from nbgrader.converters import GenerateFeedback

    return [RedactHidden, *GenerateFeedback.class_traits()["preprocessors"].make_dynamic_default()]
