"""Many training runs at once: every (learning rates, seed) configuration as one batched model.

Introduced in the live-lab lesson. ``train_runs`` trains each configuration ``(lrs, seed)`` --
``lrs`` a dict ``{part: lr}`` like the one ``lrlab.groups.by_part`` takes -- as a slice of ONE
model whose weights carry a leading "configuration" dimension, so the many small matrix products
of a step become a few large ones::

    runs = train_runs(lambda s: mlp(seed=s), preset("normal"),
                      [({"body": 3e-2, "head": lr}, seed) for lr in (1e-2, 1e-1) for seed in range(8)])
    runs.val_loss.shape            # (16, 10): one row per configuration, one column per epoch
    diagnose(runs.history(0))      # a row reads like an ordinary run's History

Row k equals ``lrlab.train.train(make_model(seed), optimizer, data, seed=seed, ...)`` with one
parameter group per part of ``lrs`` (the lab's optimizers: SGD momentum 0.9, Adam, AdamW with
weight decay 0.01), up to float rounding: the same initial weights (``make_model(seed)``), the
same batches in the same order, and the optimizer update written out with torch's formulas
(``tests/test_sweep.py`` checks it). A run whose loss turns infinite or NaN stops after that
epoch, as an ordinary run does, and leaves the batch.

Two ways through the model, one engine around them: an ``lrlab.models.MLP`` runs by hand
(activations stored feature by sample, so the forward and backward products of every layer are
single batched GEMMs, and SGD's momentum is accumulated inside the weight-gradient GEMM);
any other model without buffers or dropout runs through ``torch.func.vmap`` of
``functional_call`` and autograd.

``lr_grid`` is a (body lr, head lr) grid of runs from one model; ``result.heatmap()`` draws the
final validation loss per cell and marks the best one.
"""
from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap

from .data import Split
from .train import DIVERGED, History, cpu_threads, pick_device

OPTIMIZERS = ("SGD momentum", "Adam", "AdamW")
MOMENTUM, BETAS, EPS, ADAMW_DECAY = 0.9, (0.9, 0.999), 1e-8, 0.01   # the live lab uses the same


# ---- results ----------------------------------------------------------------------------------
@dataclass
class Runs:
    """What every configuration did; tensor rows follow ``configs``.

    ``train_loss``, ``val_loss``, ``val_acc``: (configs, epochs); ``step_loss``: (configs,
    epochs * steps_per_epoch); ``update_ratios``: (configs, epochs, parts), each part's
    ||w_end - w_start|| / ||w_start|| per epoch. A run that blew up stops after that epoch:
    ``epochs_run`` says how many epochs each ran, and its later entries are NaN.
    """

    configs: list[tuple[dict[str, float], int]]
    parts: list[str]
    optimizer: str
    train_loss: torch.Tensor
    val_loss: torch.Tensor
    val_acc: torch.Tensor
    step_loss: torch.Tensor
    update_ratios: torch.Tensor
    epochs_run: torch.Tensor
    steps_per_epoch: int
    device: str
    seconds: float
    n_classes: int = 0

    def __len__(self) -> int:
        return len(self.configs)

    @property
    def diverged(self) -> torch.Tensor:
        """True for each run that stopped early because its loss became infinite or NaN."""
        return self.epochs_run < self.val_loss.shape[1]

    @property
    def final(self) -> torch.Tensor:
        """Final validation loss per configuration; ``nan`` for a run that blew up."""
        return torch.where(self.diverged, torch.nan, self.val_loss[:, -1])

    def label(self, k: int) -> str:
        lrs, seed = self.configs[k]
        return f"{self.optimizer}: " + ", ".join(f"{p} {lr:.0e}" for p, lr in lrs.items()) + f", seed {seed}"

    def history(self, k: int) -> History:
        """Run ``k`` as the ``History`` ``lrlab.train.train`` would have returned for it."""
        lrs, _ = self.configs[k]
        n, steps = int(self.epochs_run[k]), self.steps_per_epoch
        return History(step_loss=self.step_loss[k, :n * steps].tolist(),
                       train_loss=self.train_loss[k, :n].tolist(),
                       val_loss=self.val_loss[k, :n].tolist(), val_acc=self.val_acc[k, :n].tolist(),
                       lrs=[[lrs[p] for p in self.parts] for _ in range(n * steps)],
                       update_ratios=self.update_ratios[k, :n].tolist(), group_names=list(self.parts),
                       steps_per_epoch=steps, n_classes=self.n_classes, device=self.device,
                       seconds=self.seconds, stopped=DIVERGED if self.diverged[k] else "",
                       label=self.label(k))


# ---- the engine -------------------------------------------------------------------------------
def train_runs(make_model: Callable[[int], nn.Module], data: Split,
               configs: Sequence[tuple[Mapping[str, float], int]], *, optimizer: str = "SGD momentum",
               epochs: int = 10, batch_size: int = 32, device=None, threads: int | None = 1,
               method: str = "auto") -> Runs:
    """Train every ``(lrs, seed)`` in ``configs`` at once; see the module docstring.

    ``make_model(seed)`` builds the model of one seed (its initial weights); ``lrs`` maps part
    names (module-name prefixes, e.g. ``"body"``, ``"body.block1"``, ``"head"``) to lrs >= 0 and
    must cover every trainable parameter; every configuration names the same parts.
    ``threads``: CPU threads while training (see ``lrlab.train.cpu_threads``). ``method``:
    ``"auto"`` runs lrlab MLPs by hand and other models through vmap; ``"vmap"`` forces vmap.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    if method not in ("auto", "vmap"):
        raise ValueError(f"method must be 'auto' or 'vmap', got {method!r}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    configs, parts = _check_configs(configs)
    device = pick_device(device) if device is None or isinstance(device, str) else device
    start = time.perf_counter()
    with cpu_threads(threads, device), torch.no_grad():
        runs = _Engine(make_model, data.to(device), configs, parts, optimizer, batch_size,
                       device, method).run(epochs)
    runs.seconds = time.perf_counter() - start
    runs.n_classes = data.n_classes
    return runs


def _check_configs(configs) -> tuple[list[tuple[dict[str, float], int]], list[str]]:
    checked = []
    for item in configs:
        try:
            lrs, seed = item
        except (TypeError, ValueError):
            raise ValueError(f"each configuration is a pair (lrs, seed), e.g. "
                             f"({{'body': 1e-2, 'head': 1e-1}}, 0); got {item!r}") from None
        if not isinstance(lrs, Mapping) or not lrs:
            raise ValueError(f"lrs must be a non-empty dict {{part: lr}}, got {lrs!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ValueError(f"a seed must be a whole number, got {seed!r}")
        for part, lr in lrs.items():
            if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and lr >= 0):
                raise ValueError(f"the lr for {part!r} must be a finite number >= 0, got {lr!r}")
        checked.append(({p: float(v) for p, v in lrs.items()}, int(seed)))
    if not checked:
        raise ValueError("configs is empty: give at least one (lrs, seed) pair")
    parts = list(checked[0][0])
    for lrs, _ in checked:
        if set(lrs) != set(parts):
            raise ValueError(f"every configuration must name the same parts; {sorted(lrs)} "
                             f"differs from {sorted(parts)}")
    return [({p: lrs[p] for p in parts}, seed) for lrs, seed in checked], parts


def _check_model(model: nn.Module) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"make_model(seed) must return a torch nn.Module, got {type(model).__name__}")
    if any(True for _ in model.buffers()):
        raise ValueError("batched runs need a model without buffers (no BatchNorm): running "
                         "statistics cannot be stacked per configuration here")
    if any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules()):
        raise ValueError("batched runs need a model without dropout: random masks would differ "
                         "from one-at-a-time training")


def _part_of(name: str, parts: Sequence[str]) -> int:
    owners = [k for k, part in enumerate(parts) if name == part or name.startswith(part + ".")]
    if len(owners) > 1:
        raise ValueError(f"parts {parts[owners[0]]!r} and {parts[owners[1]]!r} overlap: a "
                         "parameter may be in only one group; name disjoint parts")
    if not owners:
        where = (f"neither {parts[0]!r} nor {parts[1]!r}" if len(parts) == 2
                 else "none of " + ", ".join(map(repr, parts)))
        raise ValueError(f"parameter {name!r} belongs to {where}; lrs must cover every "
                         "trainable parameter")
    return owners[0]


class _Engine:
    """The training loop shared by both ways through the model: batches, optimizer, records."""

    def __init__(self, make_model, data, configs, parts, optimizer, batch_size, device, method):
        self.data, self.parts, self.batch_size = data, parts, batch_size
        self.device, self.optimizer_name = device, optimizer
        # Rows sorted by seed, so that the configurations sharing a seed (and its batches) sit
        # together; ``run`` puts them back in the caller's order.
        self.given = list(configs)
        self.order = sorted(range(len(configs)), key=lambda k: configs[k][1])
        self.configs = configs = [configs[k] for k in self.order]
        seeds = sorted({seed for _, seed in configs})
        models = {seed: make_model(seed) for seed in seeds}
        for model in models.values():
            _check_model(model)
        base = models[seeds[0]]
        named = list(base.named_parameters())
        self.names = [name for name, _ in named]
        self.seed_slot = torch.tensor([seeds.index(seed) for _, seed in configs], device=device)
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        for seed, model in models.items():
            theirs = [(n, p.shape, p.requires_grad) for n, p in model.named_parameters()]
            if theirs != [(n, p.shape, p.requires_grad) for n, p in named]:
                raise ValueError(f"make_model({seed}) built a model with other parameters than "
                                 f"make_model({seeds[0]}): every seed must give the same architecture")
        self.params = [torch.stack([models[seed].get_parameter(name).detach().to(device)
                                    for seed in seeds])[self.seed_slot] for name in self.names]
        # Each trainable parameter's part, and its slot in the optimizer (None: lr 0 in every
        # configuration, so it never moves and needs no gradient).
        lr_table = torch.tensor([[lrs[p] for p in parts] for lrs, _ in configs])
        self.part = [_part_of(name, parts) if p.requires_grad else None for name, p in named]
        self.trained = [i for i, k in enumerate(self.part) if k is not None and lr_table[:, k].any()]
        self.slot = {i: s for s, i in enumerate(self.trained)}
        lrs = [lr_table[:, self.part[i]].to(device).view(-1, *([1] * (self.params[i].dim() - 1)))
               for i in self.trained]
        self.opt = {"SGD momentum": _SGD, "Adam": _Adam, "AdamW": _AdamW}[optimizer](
            [self.params[i] for i in self.trained], lrs)
        layers = _mlp_layers(base) if method == "auto" else None
        self.model = (_HandMLP(layers, self.names, self.slot) if layers is not None
                      else _Vmapped(base, self.names, self.slot))

    def run(self, epochs: int) -> Runs:
        data, b, device = self.data, self.batch_size, self.device
        n_cfg, n = len(self.configs), len(data.y_train)
        steps = math.ceil(n / b)
        nan = lambda *shape: torch.full(shape, torch.nan, device=device)  # noqa: E731
        train_loss, val_loss, val_acc = nan(n_cfg, epochs), nan(n_cfg, epochs), nan(n_cfg, epochs)
        step_loss, ratios = nan(n_cfg, epochs * steps), nan(n_cfg, epochs, len(self.parts))
        epochs_run = torch.full((n_cfg,), epochs, dtype=torch.long, device=device)
        alive = torch.arange(n_cfg, device=device)        # rows of the configurations still training
        before = {i: torch.empty_like(self.params[i]) for i, k in enumerate(self.part) if k is not None}
        for epoch in range(epochs):
            perms = torch.stack([torch.randperm(n, generator=g) for g in self.generators]).to(device)
            xs, ys = self._batches(perms, self.seed_slot[alive])
            for i, start in before.items():               # the weights this epoch starts from
                start.copy_(self.params[i])
            losses = torch.empty(steps, len(alive), device=device)
            for s in range(steps):
                batch = slice(s * b, (s + 1) * b)
                self.opt.t += 1
                losses[s] = self.model.step(self.params, xs[..., batch, :], ys[..., batch], self.opt)
            step_loss[alive, epoch * steps:(epoch + 1) * steps] = losses.T
            train_loss[alive, epoch] = losses.double().mean(0).float()
            val_loss[alive, epoch], val_acc[alive, epoch] = self.model.evaluate(self.params, data.x_val, data.y_val)
            ratios[alive, epoch] = self._update_ratios(before)
            finite = torch.isfinite(losses).all(0) & torch.isfinite(val_loss[alive, epoch])
            if not finite.all():                          # stopped, like an ordinary run
                epochs_run[alive[~finite]] = epoch + 1
                keep = finite.nonzero().flatten()
                alive = alive[keep]
                if not len(alive):
                    break
                self.params = [p[keep] for p in self.params]
                before = {i: start[keep] for i, start in before.items()}
                self.opt.keep(keep)
        back = torch.tensor(self.order).argsort()                 # rows in the caller's order
        cpu = lambda tensor: tensor[back.to(tensor.device)].cpu()  # noqa: E731
        return Runs(self.given, self.parts, self.optimizer_name, cpu(train_loss), cpu(val_loss),
                    cpu(val_acc), cpu(step_loss), cpu(ratios), cpu(epochs_run), steps, str(device), 0.0)

    def _batches(self, perms: torch.Tensor, slots: torch.Tensor):
        """This epoch's inputs and labels in batch order. Inputs: (samples, features) when every
        configuration has the same seed; (seeds, samples, features) when the seeds are equally
        many (rows sorted by seed: the model's first layer is then a product per seed);
        otherwise one copy per configuration. Labels: (samples,) or (configs, samples)."""
        seeds, counts = torch.unique_consecutive(slots, return_counts=True)
        x, y = self.data.x_train, self.data.y_train
        if len(seeds) == 1:
            return x[perms[seeds[0]]], y[perms[seeds[0]]]
        if self.model.shares_inputs and bool((counts == counts[0]).all()):
            return x[perms[seeds]], y[perms[slots]]
        return x[perms[slots]], y[perms[slots]]

    def _update_ratios(self, before: dict[int, torch.Tensor]) -> torch.Tensor:
        """Per configuration and part: ||w - w_before|| / ||w_before|| (as ``lrlab.train``)."""
        n_cfg = len(self.params[0])
        change = torch.zeros(n_cfg, len(self.parts), device=self.device)
        size = torch.zeros_like(change)
        norm = lambda t: torch.linalg.vector_norm(t.view(n_cfg, -1), dim=1).square_()  # noqa: E731
        for i, start in before.items():
            k = self.part[i]
            size[:, k] += norm(start)
            change[:, k] += norm(start.sub_(self.params[i]))
        ratio = change.sqrt() / size.sqrt()
        return torch.where(size > 0, ratio, torch.where(change > 0, torch.inf, 0.0))


def _matmul_(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, beta: float) -> None:
    """``out = beta * out + a @ b`` for stacked matrices. A 2-D ``b`` is shared by all of
    them; a ``b`` stacked fewer times than ``a`` is shared by as many consecutive ones."""
    if b.dim() == 2:
        out.view(-1, out.shape[-1]).addmm_(a.reshape(-1, a.shape[-1]), b, beta=beta)
    else:
        groups = len(b)
        out.view(groups, -1, out.shape[-1]).baddbmm_(a.reshape(groups, -1, a.shape[-1]), b, beta=beta)


# ---- optimizers: torch's update formulas, one lr per configuration ---------------------------
class _Optimizer:
    """Step ``t`` of every configuration, one trained parameter at a time: its gradient arrives
    (``absorb``, or ``absorb_product`` for a gradient that is a matrix product), then ``update``
    moves it. ``state`` lists the per-configuration tensors, so that stopped runs can leave
    (``keep``)."""

    def __init__(self, params, lrs):
        self.lrs = lrs
        self.t = 0
        self.state: list[list[torch.Tensor]] = []

    def keep(self, rows: torch.Tensor) -> None:
        self.lrs = [lr[rows] for lr in self.lrs]
        for tensors in self.state:
            tensors[:] = [t[rows] for t in tensors]


class _SGD(_Optimizer):
    """SGD, momentum 0.9: buf = 0.9 buf + g (g itself at the first step), p -= lr buf."""

    def __init__(self, params, lrs):
        super().__init__(params, lrs)
        self.buf = [torch.zeros_like(p) for p in params]
        self.state = [self.buf]

    def absorb(self, i, grad):
        torch.add(grad, self.buf[i], alpha=MOMENTUM, out=self.buf[i])

    def absorb_product(self, i, a, b):
        _matmul_(self.buf[i], a, b, beta=MOMENTUM)     # the gradient is never stored

    def update(self, i, param):
        param.addcmul_(self.lrs[i], self.buf[i], value=-1)


class _Adam(_Optimizer):
    """Adam with torch's defaults (betas 0.9, 0.999, eps 1e-8), bias-corrected: torch's fused
    Adam kernel (one pass) computes each configuration's step at lr 1, which is then scaled by
    that configuration's lr."""

    decay = 0.0

    def __init__(self, params, lrs):
        super().__init__(params, lrs)
        self.m, self.v, self.grad, self.move = ([torch.zeros_like(p) for p in params] for _ in range(4))
        self.state = [self.m, self.v, self.grad, self.move]
        self.current: dict[int, torch.Tensor] = {}
        self.steps = torch.zeros((), device=params[0].device if params else None)

    def absorb(self, i, grad):
        self.current[i] = grad.contiguous()          # the fused kernel reads memory in order

    def absorb_product(self, i, a, b):
        _matmul_(self.grad[i], a, b, beta=0.0)
        self.current[i] = self.grad[i]

    def update(self, i, param):
        lr, move = self.lrs[i], self.move[i].zero_()
        if self.decay:
            param.mul_(1 - lr * self.decay)
        self.steps.fill_(self.t)
        torch._fused_adam_([move], [self.current.pop(i)], [self.m[i]], [self.v[i]], [], [self.steps],
                           lr=1.0, beta1=BETAS[0], beta2=BETAS[1], weight_decay=0.0, eps=EPS,
                           amsgrad=False, maximize=False)
        param.addcmul_(move, lr)           # move = -m_hat / (sqrt(v_hat) + eps), Adam's step at lr 1


class _AdamW(_Adam):
    """AdamW: Adam, then the weights decay by lr * 0.01 per step (decoupled weight decay)."""

    decay = ADAMW_DECAY


# ---- two ways through the model ---------------------------------------------------------------
def _mlp_layers(model: nn.Module):
    """For an ``lrlab.models.MLP`` of Linear + ReLU blocks: ``(weight name, bias name, relu?)`` per
    layer in forward order; ``None`` for any other model (then vmap does the batching)."""
    from .models import MLP

    if not isinstance(model, MLP):
        return None
    layers = []
    for name, block in model.body.named_children():
        if [type(m) for m in block.children()] != [nn.Linear, nn.ReLU] or block.linear.bias is None:
            return None
        layers.append((f"body.{name}.linear.weight", f"body.{name}.linear.bias", True))
    if model.head.bias is None:
        return None
    return layers + [("head.weight", "head.bias", False)]


class _HandMLP:
    """Linear + ReLU layers by hand. Activations are (config, feature, sample), so a layer is one
    batched GEMM ``W @ a + b`` and its backward pass two: ``g @ a^T`` (the weight gradient,
    handed to the optimizer as a product) and ``W^T @ g`` (the gradient of its input). The
    first layer's input may be shared by all configurations, or by each group of consecutive
    ones (``shares_inputs``): one product then covers them all. Activations and gradients go
    into buffers reused from step to step."""

    EVAL_CHUNK = 128                  # validation samples per pass: activations stay in the cache
    shares_inputs = True

    def __init__(self, layers, names, slot):
        self.layers = [(names.index(w), names.index(b), relu) for w, b, relu in layers]
        self.slot = slot
        trained = [k for k, (w, b, _) in enumerate(self.layers) if w in slot or b in slot]
        self.lowest = trained[0] if trained else len(self.layers)
        self.buffers: dict[tuple, torch.Tensor] = {}

    def _buffer(self, role: str, k: int, like: torch.Tensor, *shape: int) -> torch.Tensor:
        key = (role, k, shape)
        if key not in self.buffers:
            self.buffers[key] = like.new_empty(shape)
        return self.buffers[key]

    def _forward(self, params, a):
        """Inputs of every layer and the logits; ``a`` is (features, samples) when shared by all
        configurations, (groups, features, samples) when shared by groups of them."""
        inputs = [a]
        for k, (w, b, relu) in enumerate(self.layers):
            weight, bias = params[w], params[b]
            n_cfg, out = weight.shape[:2]
            z = self._buffer("z", k, weight, n_cfg, out, a.shape[-1])
            if a.dim() == 2:
                torch.mm(weight.view(n_cfg * out, -1), a, out=z.view(n_cfg * out, -1))
            else:                              # one product per group of configurations
                groups = len(a)
                torch.bmm(weight.view(groups, -1, weight.shape[-1]), a, out=z.view(groups, -1, a.shape[-1]))
            a = z.add_(bias.unsqueeze(-1))
            if relu:
                a.relu_()
            inputs.append(a)
        return inputs[:-1], inputs[-1]

    def step(self, params, x, y, opt) -> torch.Tensor:
        inputs, logits = self._forward(params, x.transpose(-1, -2))
        loss, grad = _cross_entropy_and_grad(logits, y)
        for k in range(len(self.layers) - 1, self.lowest - 1, -1):
            w, b, _ = self.layers[k]
            if w in self.slot:
                opt.absorb_product(self.slot[w], grad, inputs[k].transpose(-1, -2))
            if b in self.slot:
                opt.absorb(self.slot[b], grad.sum(-1))
            if k > self.lowest:                              # through the weights, then the ReLU
                below = inputs[k]
                grad = torch.bmm(params[w].transpose(1, 2), grad, out=self._buffer("g", k, below, *below.shape))
                torch.ops.aten.threshold_backward.grad_input(grad, below, 0, grad_input=grad)
            for i in (w, b):                                 # the weights are used: move them
                if i in self.slot:
                    opt.update(self.slot[i], params[i])
        return loss

    def evaluate(self, params, x, y):
        loss, acc = 0.0, 0.0
        for i in range(0, len(x), self.EVAL_CHUNK):
            chunk = slice(i, i + self.EVAL_CHUNK)
            part_loss, part_acc = _loss_and_accuracy(self._forward(params, x[chunk].T)[1], y[chunk])
            loss, acc = loss + part_loss * len(y[chunk]), acc + part_acc * len(y[chunk])
        return loss / len(y), acc / len(y)


class _Vmapped:
    """Any model without buffers or dropout: ``functional_call`` under ``vmap``, autograd."""

    shares_inputs = False

    def __init__(self, base, names, slot):
        self.base, self.names, self.slot = base, names, slot

    def _logits(self, params, x):
        call = lambda weights, inputs: functional_call(self.base, dict(zip(self.names, weights)), (inputs,))  # noqa: E731
        return vmap(call, in_dims=(0, None if x.dim() == 2 else 0))(params, x)

    def step(self, params, x, y, opt) -> torch.Tensor:
        leaves = [p.detach().requires_grad_(i in self.slot) for i, p in enumerate(params)]
        with torch.enable_grad():
            logits = self._logits(leaves, x)                            # (configs, samples, classes)
            target = y.expand(logits.shape[:2])
            loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none")
            loss = loss.view(logits.shape[:2]).mean(1)
            grads = torch.autograd.grad(loss.sum(), [leaves[i] for i in self.slot]) if self.slot else []
        for i, grad in zip(self.slot, grads):
            opt.absorb(self.slot[i], grad)
            opt.update(self.slot[i], params[i])
        return loss.detach()

    def evaluate(self, params, x, y):
        return _loss_and_accuracy(self._logits(params, x).transpose(1, 2), y)


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor):
    """Mean cross-entropy per configuration of (config, class, sample) logits (classes in the
    middle: softmax then runs along contiguous samples, ten times faster than along 10 classes);
    also the log-probabilities and where the targets sit in them."""
    logp = torch.log_softmax(logits, 1)
    target = y.expand(logits.shape[0], logits.shape[2]).unsqueeze(1)
    return -logp.gather(1, target).mean((1, 2)), logp, target


def _cross_entropy_and_grad(logits: torch.Tensor, y: torch.Tensor):
    """The loss and its gradient with respect to the logits: (softmax - one-hot) / samples."""
    loss, logp, target = _cross_entropy(logits, y)
    grad = logp.exp_()
    grad.scatter_add_(1, target, torch.full((1, 1, 1), -1.0, device=grad.device).expand(target.shape))
    return loss, grad.div_(logits.shape[2])


def _loss_and_accuracy(logits: torch.Tensor, y: torch.Tensor):
    """Mean cross-entropy and accuracy per configuration of (config, class, sample) logits."""
    loss, _, _ = _cross_entropy(logits, y)
    predicted = logits.transpose(1, 2).contiguous().argmax(2)       # argmax is slow along dim 1
    return loss, (predicted == y).float().mean(1)


# ---- the (body lr, head lr) grid --------------------------------------------------------------
@dataclass
class Grid:
    """Per-epoch losses of every configuration: tensors shaped (rows, cols, epochs); ``runs``
    holds everything else (rows in reading order)."""

    row_part: str
    col_part: str
    row_lrs: list[float]
    col_lrs: list[float]
    train_loss: torch.Tensor
    val_loss: torch.Tensor
    val_acc: torch.Tensor
    optimizer: str
    epochs: int
    device: str
    seconds: float
    runs: Runs

    @property
    def final(self) -> torch.Tensor:
        """Final validation loss per cell (rows = ``row_part`` lr, columns = ``col_part`` lr);
        a run that blew up reads ``nan``."""
        last = self.val_loss[..., -1].clone()
        bad = ~torch.isfinite(self.val_loss).all(-1)
        last[bad] = float("nan")
        return last

    def best(self) -> tuple[float, float, float]:
        """``(row lr, col lr, final val loss)`` of the best finite cell."""
        final = self.final
        if not torch.isfinite(final).any():
            raise ValueError("every configuration diverged")
        flat = torch.where(torch.isfinite(final), final, torch.inf).argmin().item()
        i, j = divmod(flat, final.shape[1])
        return self.row_lrs[i], self.col_lrs[j], final[i, j].item()

    def best_single(self) -> tuple[float, float]:
        """Best cell among those with the same lr for both parts: ``(lr, final val loss)``."""
        same = [(final, lr) for i, lr in enumerate(self.row_lrs) for j, other in enumerate(self.col_lrs)
                if math.isclose(lr, other, rel_tol=1e-9)
                and math.isfinite(final := self.final[i, j].item())]
        if not same:
            raise ValueError("the grid has no finite cell where both lrs are equal")
        loss, lr = min(same)
        return lr, loss

    def history(self, row_lr: float, col_lr: float) -> History:
        """One cell as a ``History`` (for ``lrlab.plots`` or ``diagnose``)."""
        i = min(range(len(self.row_lrs)), key=lambda k: abs(math.log(self.row_lrs[k] / row_lr)))
        j = min(range(len(self.col_lrs)), key=lambda k: abs(math.log(self.col_lrs[k] / col_lr)))
        return self.runs.history(i * len(self.col_lrs) + j)

    def heatmap(self, *, ax=None, title: str | None = None):
        """Final validation loss per (row lr, col lr) cell; the best cell boxed; diverged cells ×."""
        import matplotlib.pyplot as plt
        import numpy as np

        final = self.final.numpy()
        fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(6.4, 5.0))
        shown = final.copy()
        image = ax.imshow(shown, origin="lower", cmap="viridis_r", aspect="auto")
        fig.colorbar(image, ax=ax, label="final validation loss")
        fmt = lambda v: f"{v:.0e}".replace("e-0", "e-")  # noqa: E731
        ax.set_xticks(range(len(self.col_lrs)), [fmt(v) for v in self.col_lrs], rotation=45)
        ax.set_yticks(range(len(self.row_lrs)), [fmt(v) for v in self.row_lrs])
        ax.set(xlabel=f"{self.col_part} learning rate", ylabel=f"{self.row_part} learning rate",
               title=title or f"{self.optimizer}, {self.epochs} epochs: final validation loss")
        for i in range(final.shape[0]):
            for j in range(final.shape[1]):
                if not math.isfinite(final[i, j]):
                    ax.text(j, i, "×", ha="center", va="center", color="#D55E00", fontsize=12)
                elif final.size <= 100:
                    ax.text(j, i, f"{final[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if final[i, j] > (np.nanmin(final) + np.nanmax(final)) / 2 else "black")
        row, col, loss = self.best()
        i, j = self.row_lrs.index(row), self.col_lrs.index(col)
        ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="#D55E00", lw=2.5,
                                   label=f"best: {self.row_part} {fmt(row)}, {self.col_part} "
                                         f"{fmt(col)} → {loss:.3f}"))
        ax.legend(loc="upper left", fontsize="small", bbox_to_anchor=(0, -0.18))
        fig.tight_layout()
        return fig


def mean_grid(grids: Sequence[Grid]) -> Grid:
    """The cell-by-cell mean of grids over the same lrs, e.g. one ``lr_grid`` per seed: losses and
    accuracies averaged epoch by epoch, so ``final``, ``best``, ``best_single`` and ``heatmap``
    read the mean. A cell where any grid's run blew up reads ``nan`` (drawn as ×). ``runs`` and
    ``history`` stay the first grid's: a mean of runs is not a run."""
    grids = list(grids)
    if not grids:
        raise ValueError("mean_grid needs at least one grid")
    first = grids[0]
    for g in grids[1:]:
        if (g.row_part, g.col_part, g.row_lrs, g.col_lrs, g.epochs) != (
                first.row_part, first.col_part, first.row_lrs, first.col_lrs, first.epochs):
            raise ValueError("mean_grid averages grids of the same parts, lrs and epochs only")
    means = {field: torch.stack([getattr(g, field) for g in grids]).mean(0)
             for field in ("train_loss", "val_loss", "val_acc")}
    return replace(first, **means, seconds=sum(g.seconds for g in grids))


def lr_grid(model: nn.Module, data: Split, row_lrs, col_lrs, *, parts=("body", "head"),
            optimizer: str = "SGD momentum", epochs: int = 10, batch_size: int = 32, seed: int = 0,
            device=None, threads: int | None = 1, method: str = "auto") -> Grid:
    """Train ``len(row_lrs) * len(col_lrs)`` copies of ``model`` at once, one per lr pair.

    ``parts`` names the two parts (rows get the first part's lr, columns the second's).
    ``optimizer``: ``"SGD momentum"`` (0.9), ``"Adam"`` or ``"AdamW"`` (weight decay 0.01), the
    live lab's choices. Every copy starts from ``model``'s weights and sees the batches
    ``lrlab.train.training`` draws with ``seed``. ``threads`` and ``method`` as in ``train_runs``.
    """
    row_lrs, col_lrs = [float(v) for v in row_lrs], [float(v) for v in col_lrs]
    if not row_lrs or not col_lrs or any(not (v > 0 and math.isfinite(v)) for v in row_lrs + col_lrs):
        raise ValueError("row_lrs and col_lrs must be non-empty lists of positive learning rates")
    row_part, col_part = parts
    configs = [({row_part: r, col_part: c}, seed) for r in row_lrs for c in col_lrs]
    runs = train_runs(lambda _seed: model, data, configs, optimizer=optimizer, epochs=epochs,
                      batch_size=batch_size, device=device, threads=threads, method=method)
    shape = (len(row_lrs), len(col_lrs), epochs)
    return Grid(row_part, col_part, row_lrs, col_lrs, runs.train_loss.view(shape),
                runs.val_loss.view(shape), runs.val_acc.view(shape), optimizer, epochs, runs.device,
                runs.seconds, runs)
