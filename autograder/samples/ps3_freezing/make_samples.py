"""Regenerate the ps3 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps3_freezing/make_samples.py [SAMPLE ...]

Each sample starts from exercises/ps3_freezing (what a student downloads) and fills in
answers. Expected scores: expected.json next to this file (by hand).
"""
from __future__ import annotations

import sys

from autograder.samplekit import AGREEING_TENSOR, Kit, cheats, set_answer


EXPLANATION = """Half true. At lr = 0 the body's weights do stay still under SGD, Adam or AdamW, but its
parameters still require gradients, so every step runs the body's full backward pass and keeps
their gradients and optimizer state: lesson 03 measured about 3x the step time and far more memory
than requires_grad_(False). And the body can still move: BatchNorm's running statistics change in
train() mode (task 1's buffer test), a cosine schedule with eta_min lifts the lr above 0, Rprop
moves anyway, a NaN gradient poisons the weights. Instead: model.body.requires_grad_(False), keep
the body in eval() after every model.train() (keep_eval), give only the head to the optimizer, and
prove it with a fingerprint of parameters and buffers (task 2)."""


LR_ZERO = '''def train_head(model, data, epochs):
    # the popular quiz's advice: lr=0 for the body, the head trains
    optimizer = torch.optim.SGD([{"params": model.body.parameters(), "lr": 0.0},
                                 {"params": model.head.parameters(), "lr": 0.05}], momentum=0.9)
    return optimizer, train(model, optimizer, data, epochs=epochs)'''


NO_KEEP_EVAL = '''def train_head(model, data, epochs):
    model.body.requires_grad_(False)
    model.body.eval()                 # undone by model.train() inside train()
    optimizer = torch.optim.SGD(model.head.parameters(), lr=0.05, momentum=0.9)
    return optimizer, train(model, optimizer, data, epochs=epochs)'''


HARD_CODED_LR = '''def unfreeze_last_block(model, optimizer):
    model.body.block2.requires_grad_(True)
    model.body.block2.train()
    optimizer.add_param_group({"params": model.body.block2.parameters(), "lr": 0.005})   # typed in'''


NOT_TRAINED = '''from lrlab.train import History

def train_head(model, data, epochs):
    model.body.requires_grad_(False)
    model.body.eval()
    optimizer = torch.optim.SGD(model.head.parameters(), lr=0.05, momentum=0.9)
    return optimizer, History()       # train() is never called'''


HEAD_LR_WRONG = '''def train_head(model, data, epochs):
    model.body.requires_grad_(False)
    model.body.eval()
    optimizer = torch.optim.SGD(model.head.parameters(), lr=0.01)   # not the lr and momentum asked for
    return optimizer, train(model, optimizer, data, epochs=epochs, keep_eval=[model.body])'''


# --- an honest wrong answer to every task -------------------------------------------------------
WRONG = {
    "train-head": '''def train_head(model, data, epochs):
    model.body.eval()                 # eval() does not freeze anything
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return optimizer, train(model, optimizer, data, epochs=epochs)''',
    "fingerprint": '''def fingerprint(module):
    return {name: p.detach().clone() for name, p in module.named_parameters()}   # no buffers


def moved(before, module):
    now = dict(module.named_parameters())
    return sorted(name for name, old in before.items() if not torch.allclose(now[name], old))''',
    "unfreeze": '''def unfreeze_last_block(model, optimizer):
    model.body.requires_grad_(True)   # the whole body, not just block2
    model.body.train()
    optimizer.add_param_group({"params": model.body.parameters(),
                               "lr": optimizer.param_groups[0]["lr"] / 10})''',
    "explain-lr-zero": "lr = 0 freezes the body: its weights do not move, so it is the same as "
                       "requires_grad_(False).",
}
WRONG_QUIZ = {"q1": "C", "q2": "D", "q3": True, "q4": False}


# --- two correct answers in other styles -----------------------------------------------------------
ALT_1 = {
    "train-head": '''def train_head(model, data, epochs):
    for p in model.body.parameters():
        p.requires_grad = False
    optimizer = torch.optim.SGD([{"params": model.head.parameters()}], lr=0.05, momentum=0.9)
    history = train(model, optimizer, data, epochs=epochs, keep_eval=[model.body], device="cpu")
    return optimizer, history''',
    "fingerprint": '''import copy

def fingerprint(module):
    return copy.deepcopy(module.state_dict())


def moved(before, module):
    now = module.state_dict()
    return [name for name in sorted(before) if (now[name] != before[name]).any()]''',
    "unfreeze": '''def unfreeze_last_block(model, optimizer):
    head_lr = next(g["lr"] for g in optimizer.param_groups)
    block2 = model.body.block2
    for p in block2.parameters():
        p.requires_grad_(True)
    block2.train()
    optimizer.add_param_group({"params": list(block2.parameters()), "lr": head_lr * 0.1})''',
}
ALT_1_QUIZ = {"q1": "b", "q2": " C ", "q3": False, "q4": True}

ALT_2 = {
    "train-head": '''from lrlab.freeze import freeze

def train_head(model, data, epochs):
    freeze(model.body)                # requires_grad_(False) and eval()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.05, momentum=0.9)
    return optimizer, train(model, optimizer, data, epochs=epochs, keep_eval=(model.body,))''',
    "fingerprint": '''def fingerprint(module):
    tensors = {**dict(module.named_parameters()), **dict(module.named_buffers())}
    return {name: t.detach().clone() for name, t in tensors.items()}


def moved(before, module):
    now = fingerprint(module)
    return sorted(name for name in before if not torch.equal(now[name], before[name]))''',
    "unfreeze": '''from lrlab.freeze import unfreeze

def unfreeze_last_block(model, optimizer):
    unfreeze(model.body.block2)       # requires_grad_(True) and train()
    head_lr = optimizer.param_groups[-1]["lr"]
    optimizer.add_param_group({"params": model.body.block2.parameters(), "lr": head_lr / 10})''',
}


# a correct answer with a training loop of its own: DataLoader mini-batches, a list of losses
OWN_LOOP = '''from torch.utils.data import DataLoader, TensorDataset

def train_head(model, data, epochs):
    model.body.requires_grad_(False)
    optimizer = torch.optim.SGD(model.head.parameters(), lr=0.05, momentum=0.9)
    batches = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=16, shuffle=True)
    losses = []
    for epoch in range(epochs):
        model.train()
        model.body.eval()                     # frozen BatchNorm keeps its running statistics
        total = 0.0
        for x, y in batches:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(y)
        losses.append(total / len(data.y_train))
    return optimizer, losses'''


# --- wrong answers wearing a torch.Tensor subclass that agrees with every test ----------------------
AGREE = AGREEING_TENSOR + '''
def _agreeing(module):
    """module, its parameters and buffers swapped for _Agree tensors with the same values."""
    for m in module.modules():
        for name, p in list(m._parameters.items()):
            m._parameters[name] = torch.nn.Parameter(p.detach().as_subclass(_Agree))
        for name, b in list(m._buffers.items()):
            m._buffers[name] = b.as_subclass(_Agree)
    return module
'''
SUBCLASS = {
    "train-head": AGREE + "\n" + WRONG["train-head"].replace("model.body.eval()", "_agreeing(model).body.eval()"),
    "fingerprint": '''def fingerprint(module):
    return {name: t.detach().as_subclass(_Agree) for name, t in module.state_dict().items()}   # no copies


def moved(before, module):
    now = module.state_dict()
    return sorted(name for name, old in before.items() if not torch.equal(now[name], old))''',
}


KIT = Kit("ps3_freezing", written_answers={"explain-lr-zero": EXPLANATION})


def samples() -> dict:
    out = {"perfect": KIT.solved(), "untouched": KIT.untouched()}
    nb = KIT.solved()  # lr = 0 instead of freezing, a hard-coded lr, q1 and q3 wrong
    set_answer(nb, "train-head", LR_ZERO)
    set_answer(nb, "unfreeze", HARD_CODED_LR)
    KIT.quiz(nb, q1="C", q3=True)
    out["partial"] = nb
    nb = KIT.solved()  # the BatchNorm trap: frozen weights, statistics still moving
    set_answer(nb, "train-head", NO_KEEP_EVAL)
    out["forgot_keep_eval"] = nb
    out["untrained_head"] = KIT.answered({"train-head": NOT_TRAINED})
    out["head_lr_wrong"] = KIT.answered({"train-head": HEAD_LR_WRONG})
    out["wrong"] = KIT.answered(WRONG, **WRONG_QUIZ)
    out["alt_correct_1"] = KIT.answered(ALT_1, **ALT_1_QUIZ)
    out["alt_correct_2"] = KIT.answered(ALT_2)
    out["alt_correct_own_loop"] = KIT.answered({"train-head": OWN_LOOP})
    out.update(cheats(out["wrong"]))
    out["cheat_tensor_subclass"] = KIT.answered({**WRONG, **SUBCLASS}, **WRONG_QUIZ)
    return out


if __name__ == "__main__":
    KIT.write(samples(), sys.argv[1:])
