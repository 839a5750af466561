"""Run a notebook in a grading kernel with nbclient, keeping only bounded output.

``GradingClient`` is nbclient's ``NotebookClient`` with nbgrader's grading settings (cell
timeout then interrupt, errors allowed, a ``CellTimeoutError`` output where the kernel gave no
reply) and an output budget enforced *while* the kernel runs: once a cell has produced
``max_output`` characters, later outputs of that cell are dropped and a marker says so
(the grader turns it into a flag), so a cell printing gigabytes costs the grader nothing.
A single message over ``kernel.MAX_MESSAGE`` never reaches it: ZeroMQ drops it, the cell
gets an ``OutputTooLarge`` error, the output channel is reconnected and the next cell runs. A cell that times out and then
ignores the interrupt stops the notebook (``CellTimeoutError``): the kernel is stuck.
"""
from __future__ import annotations

import asyncio

from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError
from nbformat import NotebookNode
from nbformat.v4 import new_output

from .kernel import MAX_MESSAGE

CUT_MARK = "[autograder] output cut"
TIMEOUT_ERROR = {"ename": "CellTimeoutError", "evalue": "",
                 "traceback": ["CellTimeoutError: No reply from kernel before timeout"]}


def output_size(kind: str, content: dict) -> int:
    """Characters in one output message's content (``kind``: stream, error, display_data, ...)."""
    if kind == "stream":
        return len(content.get("text", ""))
    if kind == "error":
        return sum(len(line) for line in content.get("traceback", [])) + len(str(content.get("evalue", "")))
    return sum(len(v) if isinstance(v, str) else len(str(v)) for v in content.get("data", {}).values())


class GradingClient(NotebookClient):
    """nbclient for grading: bounded output per cell, timeouts as nbgrader reports them."""

    def __init__(self, nb, km, *, timeout: int, max_output: int, **kw):
        super().__init__(nb, km=km, timeout=timeout, interrupt_on_timeout=True,
                         allow_errors=True, error_on_timeout=TIMEOUT_ERROR, record_timing=False,
                         store_widget_state=False, raise_on_iopub_timeout=True,
                         iopub_timeout=5, startup_timeout=60, **kw)
        self.max_output = max_output
        self._used: dict[int, int] = {}

    def output(self, outs, msg, display_id, cell_index):
        size = output_size(msg.get("msg_type", ""), msg.get("content", {}))
        used = self._used.get(cell_index, 0)
        if used + size > self.max_output:
            if used <= self.max_output:     # first overflow: say so once
                outs.append(new_output("stream", name="stdout",
                                       text=f"\n{CUT_MARK}: more than {self.max_output} characters\n"))
                self._used[cell_index] = self.max_output + 1
            return None
        self._used[cell_index] = used + size
        return super().output(outs, msg, display_id, cell_index)

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self._timed_out = False
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except CellTimeoutError:
            if self._timed_out:
                raise                      # interrupted, and still not idle: the kernel is stuck
            # the reply came but the output did not: ZeroMQ dropped an oversized message and
            # with it the output channel; a new one gets the next cells' output
            self.kc._iopub_channel.close()
            self.kc._iopub_channel = None
            self.kc.iopub_channel.start()
            await asyncio.sleep(0.2)
            cell.outputs.append(NotebookNode(
                output_type="error", ename="OutputTooLarge",
                evalue=f"an output message over {MAX_MESSAGE >> 20} MB was dropped",
                traceback=[f"OutputTooLarge: an output message over {MAX_MESSAGE >> 20} MB was dropped"]))
            return cell

    def on_cell_executed(self, cell, execute_reply, **_) -> None:  # overrides nbclient's hook
        """nbgrader's rule: a reply that is an error with no matching output gets one."""
        reply = execute_reply
        if not reply or reply["content"].get("status") != "error":
            return
        content = reply["content"]
        if not any(o.output_type == "error" and o.get("ename") == content.get("ename")
                   for o in cell.outputs):
            cell.outputs.append(NotebookNode(output_type="error", ename=content.get("ename", ""),
                                             evalue=content.get("evalue", ""),
                                             traceback=content.get("traceback") or
                                             ["ERROR: an error occurred"]))
