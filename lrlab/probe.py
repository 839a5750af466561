"""Tests a grader can trust: a *probe* runs your code, a *judge* checks plain data.

Used by the exercises' test cells::

    def probe():                    # runs your code, returns what the test looks at
        opt = make_optimizer(mlp(seed=0))
        return {"lrs": [g["lr"] for g in opt.param_groups]}

    def judge(r):                   # checks that data: numbers, strings, lists, dicts, tensors
        assert r["lrs"] == [1e-3, 1e-2], "the body trains at 1e-3, the head at 1e-2"

    run_test(probe, judge)

``run_test`` sends the probe's result through the same plain-data format the grader uses
(JSON, and tensors as raw bytes: no pickle, no objects of yours), then runs the judge on it.
When a notebook is graded, the probe runs in your kernel and the judge in the grader's own
process, on that data alone: what your code returns is all that counts.
"""
from __future__ import annotations

import base64
import builtins
import math
import types

MIME = "application/vnd.lrlab.probe+json"
MAX_BYTES = 8 << 20          # most bytes of tensor data one probe may return
MAX_ITEMS = 100_000          # most values (numbers, strings, list items, ...) in one result
MAX_DEPTH = 32
DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8",
          "uint8", "bool")


class NotPlainData(TypeError):
    """A probe returned something that is not plain data."""


def encode(value, *, _budget=None, _depth=0):
    """``value`` as JSON-ready plain data; tensors as ``{"__tensor__": ...}``."""
    import torch

    budget = _budget if _budget is not None else {"items": MAX_ITEMS, "bytes": MAX_BYTES}
    budget["items"] -= 1
    if budget["items"] < 0 or _depth > MAX_DEPTH:
        raise NotPlainData("the probe's result is too large or too deeply nested")
    kind = type(value)
    if value is None or kind is bool or kind is str or kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if kind in (list, tuple):
        return [encode(v, _budget=budget, _depth=_depth + 1) for v in value]
    if kind is dict:
        if any(type(k) is not str for k in value):
            raise NotPlainData("dict keys in a probe's result must be strings")
        if set(value) in ({"__float__"}, {"__tensor__"}):
            raise NotPlainData(f"{next(iter(value))!r} alone is a reserved key in a probe's result")
        return {k: encode(v, _budget=budget, _depth=_depth + 1) for k, v in value.items()}
    if kind in (torch.Tensor, torch.nn.Parameter):
        t = torch.Tensor.detach(value).cpu().contiguous()
        dtype = str(t.dtype).removeprefix("torch.")
        if dtype not in DTYPES:
            raise NotPlainData(f"tensors of dtype {dtype} are not supported in a probe's result")
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        budget["bytes"] -= len(raw)
        if budget["bytes"] < 0:
            raise NotPlainData("the probe's tensors are too large")
        return {"__tensor__": {"dtype": dtype, "shape": list(t.shape),
                               "data": base64.b64encode(raw).decode("ascii")}}
    raise NotPlainData(f"a probe must return plain data (numbers, strings, lists, dicts, "
                       f"tensors), not {kind.__module__}.{kind.__qualname__}")


def decode(data, *, _budget=None, _depth=0):
    """The inverse of ``encode``, for data from anywhere: anything unexpected raises."""
    import torch

    budget = _budget if _budget is not None else {"items": MAX_ITEMS, "bytes": MAX_BYTES}
    budget["items"] -= 1
    if budget["items"] < 0 or _depth > MAX_DEPTH:
        raise NotPlainData("probe data too large or too deeply nested")
    kind = type(data)
    if data is None or kind in (bool, str, int):
        return data
    if kind is float:
        return data
    if kind is list:
        return [decode(v, _budget=budget, _depth=_depth + 1) for v in data]
    if kind is not dict or any(type(k) is not str for k in data):
        raise NotPlainData(f"unexpected {kind.__name__} in probe data")
    if set(data) == {"__float__"}:
        if data["__float__"] not in ("nan", "inf", "-inf"):
            raise NotPlainData("malformed number in probe data")
        return float(data["__float__"])
    if set(data) == {"__tensor__"}:
        spec = data["__tensor__"]
        if type(spec) is not dict or set(spec) != {"dtype", "shape", "data"} \
                or spec["dtype"] not in DTYPES or type(spec["shape"]) is not list \
                or any(type(n) is not int or n < 0 for n in spec["shape"]) \
                or type(spec["data"]) is not str:
            raise NotPlainData("malformed tensor in probe data")
        raw = base64.b64decode(spec["data"], validate=True)
        budget["bytes"] -= len(raw)
        dtype = getattr(torch, spec["dtype"])
        if budget["bytes"] < 0 or len(raw) != math.prod(spec["shape"]) * dtype.itemsize:
            raise NotPlainData("tensor data of the wrong size in probe data")
        if not raw:
            return torch.empty(spec["shape"], dtype=dtype)
        return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(spec["shape"]).clone()
    return {k: decode(v, _budget=budget, _depth=_depth + 1) for k, v in data.items()}


def check_namespace() -> dict:
    """What a judge may use: builtins, ``torch`` and ``math`` (the same in the grader)."""
    import torch
    return {"__builtins__": builtins, "torch": torch, "math": math}


def as_judge(judge):
    """``judge`` rebuilt on ``check_namespace()``: it sees the same names here as in the grader."""
    return types.FunctionType(judge.__code__, check_namespace(), judge.__name__,
                              judge.__defaults__, judge.__closure__)


def run_test(probe, judge) -> None:
    """Run ``probe``, pass its result through the grader's plain-data format, run ``judge``."""
    as_judge(judge)(decode(encode(probe())))


def report(probe, judge=None) -> None:
    """At grading: run ``probe`` and show its result (plain data) for the grader to judge.
    With ``judge`` (visible tests), also judge here and report what it said."""
    from IPython.display import display

    payload = {}
    try:
        data = encode(probe())
    except BaseException as e:
        payload["error"] = f"{type(e).__name__}: {e}"[:2000]
        display({MIME: payload}, raw=True)
        raise
    payload["value"] = data
    if judge is not None:
        try:
            as_judge(judge)(decode(data))
            payload["kernel"] = "passed"
        except BaseException as e:  # noqa: BLE001 - the kernel's verdict, reported as it was
            payload["kernel"] = f"failed: {type(e).__name__}"
            display({MIME: payload}, raw=True)
            raise
    display({MIME: payload}, raw=True)
