"""Run a notebook in a grading kernel with nbclient, keeping only bounded output.

``GradingClient`` is nbclient's ``NotebookClient`` with nbgrader's grading settings (cell
timeout then interrupt, errors allowed, a ``CellTimeoutError`` output where the kernel gave no
reply) and an output budget enforced *while* the kernel runs: every message a cell sends
counts whole (its data, metadata, transient part, header; a ``clear_output`` or a comm
message too), and once a cell has sent ``max_output`` characters, or the notebook
``max_total``, later messages are dropped and a marker says so (the grader turns it into a
flag), so a cell printing gigabytes costs the grader nothing. Display updates
(``update_display_data``, or a second display with the same id) are ignored while grading:
an output keeps what it first showed. A single message over ``kernel.MAX_MESSAGE`` never
reaches it: ZeroMQ drops it, the cell gets an ``OutputTooLarge`` error, the output channel is
reconnected and the next cell runs. A cell that times out and then ignores the interrupt stops
the notebook (``CellTimeoutError``): the kernel is stuck.
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


def message_size(msg, stop: int) -> int:
    """Characters of a kernel message as JSON, roughly (every key, string and buffer, walked
    without recursion); the walk ends once the count passes ``stop``."""
    size, todo = 0, [msg]
    while todo and size <= stop:
        item = todo.pop()
        if isinstance(item, dict):
            size += 2 * len(item)
            todo += item.keys()
            todo += item.values()
        elif isinstance(item, (list, tuple)):
            size += 1 + len(item)
            todo += item
        elif isinstance(item, memoryview):
            size += item.nbytes
        elif isinstance(item, (str, bytes, bytearray)):
            size += len(item) + 2
        else:
            size += 8
    return size


class GradingClient(NotebookClient):
    """nbclient for grading: bounded output per cell and per notebook, timeouts as nbgrader
    reports them."""

    def __init__(self, nb, km, *, timeout: int, max_output: int, max_total: int, **kw):
        super().__init__(nb, km=km, timeout=timeout, interrupt_on_timeout=True,
                         allow_errors=True, error_on_timeout=TIMEOUT_ERROR, record_timing=False,
                         store_widget_state=False, raise_on_iopub_timeout=True,
                         iopub_timeout=5, startup_timeout=60, **kw)
        self.max_output, self.max_total = max_output, max_total
        self._used: dict[int, int] = {}
        self._total = 0

    def process_message(self, msg, cell, cell_index):
        """Count the message whole, drop it once over budget; a status (the end of a cell) is
        always read."""
        if msg.get("msg_type") != "status":
            used = self._used.get(cell_index, 0)
            room = min(self.max_output - used, self.max_total - self._total)
            size = message_size(msg, max(room, 0))
            if size > room:
                if used <= self.max_output and self._total <= self.max_total:  # say so once
                    cell.outputs.append(new_output("stream", name="stdout", text=(
                        f"\n{CUT_MARK}: more than {self.max_output} characters in this cell "
                        f"or {self.max_total} in the notebook\n")))
                self._used[cell_index] = self.max_output + 1      # nothing more of this cell
                if self.max_total - self._total < self.max_output - used:   # the notebook is full:
                    self._total = self.max_total + 1                      # later cells cut silently
                return None
            self._used[cell_index] = used + size
            self._total += size
        return super().process_message(msg, cell, cell_index)

    def _update_display_id(self, display_id, msg) -> None:  # overrides nbclient's
        """Ignored while grading: an update would copy one message into every output that
        shares its display id."""

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
