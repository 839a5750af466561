"""Regenerate the ps2 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps2_default_lr/make_samples.py [SAMPLE ...]

Each sample starts from exercises/ps2_default_lr (what a student downloads) and fills in
answers. Expected scores: expected.json next to this file (by hand).
"""
from __future__ import annotations

import sys

from autograder.samplekit import AGREEING_TENSOR, Kit, cheats, set_answer


EXPLANATION = """They are undone. LambdaLR does not work from the current lr: each step sets
lr = base_lr * lambda(epoch), and after scheduler.load_state_dict its base_lrs (and each group's
initial_lr) are the checkpoint's 0.1 and 0.01, so my 0.5 and 0.05 last one step and the old lrs come
back, without a word. I ran it: after one step the lrs were [0.1, 0.01] again. Besides group['lr']
I must scale the bases after loading both state dicts: scheduler.base_lrs and each group's
initial_lr (OneCycleLR: max_lr and min_lr too), which lrlab.groups.set_lrs does, or rebuild the
scheduler. StepLR and CosineAnnealingLR multiply the current lr, so they keep the new lrs."""
WRONG_EXPLANATION = "Nothing happens: the lrs I set after loading stay, whatever the scheduler."


HALF_FIXED_B = '''def fixed_b(model):
    body = list(model.body.parameters())      # the generator is fixed...
    print("body tensors:", len(body))
    return torch.optim.Adam([{"params": body, "lr": 1e-4}], lr=1e-3)   # ...the head is still left out'''


TYPO_ONLY_C = '''def fixed_c(model):
    decay = [p for n, p in model.named_parameters() if "weight" in n]   # BatchNorm weights too
    no_decay = [p for n, p in model.named_parameters() if "bias" in n]
    return torch.optim.SGD([{"params": decay, "weight_decay": 1e-3},
                            {"params": no_decay}], lr=0.05, momentum=0.9)'''


SCALAR_CYCLE = '''def make_one_cycle(optimizer, total_steps):
    return OneCycleLR(optimizer, max_lr=0.1, total_steps=total_steps)'''


LRS_BEFORE_LOAD = '''def resume(checkpoint, body_lr, head_lr):
    model = mlp(hidden=(32, 32))
    model.load_state_dict(checkpoint["model"])
    optimizer = make_optimizer(model, body_lr, head_lr)   # the new lrs...
    optimizer.load_state_dict(checkpoint["optimizer"])    # ...overwritten by the saved ones
    return model, optimizer'''


# --- an honest wrong answer to every task -------------------------------------------------------
WRONG = {
    "fixed-a": '''def fixed_a(model):
    return torch.optim.SGD([{"params": model.body.parameters(), "lr": 0.01},
                            {"params": model.head.parameters(), "lr": 0.1}])   # momentum forgotten''',
    "fixed-b": '''def fixed_b(model):
    body = list(model.body.parameters())
    print("body tensors:", len(body))
    return torch.optim.Adam([{"params": body, "lr": 1e-4}, {"params": model.head.parameters()}],
                            lr=1e-3, betas=(0.5, 0.5), eps=1e-3)   # not Adam's defaults''',
    "fixed-c": '''def fixed_c(model):
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.SGD([{"params": decay, "weight_decay": 1e-3},
                            {"params": no_decay}], lr=0.05)   # momentum forgotten''',
    "one-cycle": '''def make_one_cycle(optimizer, total_steps):
    OneCycleLR(optimizer, max_lr=[0.01, 0.1], total_steps=total_steps)   # built, not returned''',
    "resume": '''def resume(checkpoint, body_lr, head_lr):
    model = mlp(hidden=(32, 32))
    model.load_state_dict(checkpoint["model"])
    return model, make_optimizer(model, body_lr, head_lr)   # the momentum buffers are lost''',
    "explain-resume-schedule": WRONG_EXPLANATION,
}
WRONG_QUIZ = {"q1": 0.05, "q2": 0.001, "q3": 0.01, "q4": 0.001}


# --- two correct answers in other styles -----------------------------------------------------------
ALT_1 = {
    "fixed-a": '''from lrlab.groups import by_part

def fixed_a(model):
    return torch.optim.SGD(by_part(model, {"body": 0.01, "head": 0.1}), momentum=0.9)''',
    "fixed-b": '''def fixed_b(model):
    return torch.optim.Adam([{"params": model.body.parameters(), "lr": 1e-4},
                             {"params": model.head.parameters(), "lr": 1e-3}],
                            betas=(0.9, 0.999), eps=1e-8)''',
    "fixed-c": '''def fixed_c(model):
    named = list(model.named_parameters())
    matrices = [p for n, p in named if n.endswith("weight") and ".norm." not in n]
    rest = [p for n, p in named if not (n.endswith("weight") and ".norm." not in n)]
    return torch.optim.SGD([{"params": matrices}, {"params": rest, "weight_decay": 0}],
                           lr=0.05, momentum=0.9, weight_decay=1e-3)''',
    "one-cycle": '''def make_one_cycle(optimizer, total_steps):
    return OneCycleLR(optimizer, max_lr=[0.01, 0.1], total_steps=total_steps,
                      anneal_strategy="linear", cycle_momentum=False)''',
    "resume": '''def resume(checkpoint, body_lr, head_lr):
    model = mlp(hidden=(32, 32))
    model.load_state_dict(checkpoint["model"])
    saved = checkpoint["optimizer"]
    groups = [{**g, "lr": lr} for g, lr in zip(saved["param_groups"], (body_lr, head_lr))]
    optimizer = make_optimizer(model, body_lr, head_lr)
    optimizer.load_state_dict({"state": saved["state"], "param_groups": groups})
    return model, optimizer''',
}
ALT_1_QUIZ = {"q1": 1 / 5, "q2": 1e-2, "q3": 3e-3, "q4": 0.1 / 25}

ALT_2 = {
    "fixed-a": '''def fixed_a(model):
    optimizer = torch.optim.SGD(model.body.parameters(), lr=0.01, momentum=0.9)
    optimizer.add_param_group({"params": model.head.parameters(), "lr": 0.1})
    return optimizer''',
    "fixed-b": '''from lrlab.groups import by_part

def fixed_b(model):
    return torch.optim.Adam(by_part(model, {"body": 1e-4, "head": 1e-3}))''',
    "fixed-c": '''from lrlab.groups import split_no_decay

def fixed_c(model):
    groups = split_no_decay([{"params": model.parameters(), "name": "all"}], weight_decay=1e-3)
    return torch.optim.SGD(groups, lr=0.05, momentum=0.9)''',
    "one-cycle": '''def make_one_cycle(optimizer, total_steps):
    peaks = [0.01, 0.1]                      # body, head
    return OneCycleLR(optimizer, max_lr=peaks, total_steps=total_steps, pct_start=0.25,
                      div_factor=10.0, three_phase=True)''',
    "resume": '''import copy

def resume(checkpoint, body_lr, head_lr):
    model = mlp(hidden=(32, 32), seed=None)
    model.load_state_dict(copy.deepcopy(checkpoint["model"]))
    optimizer = make_optimizer(model, 1.0, 1.0)
    optimizer.load_state_dict(checkpoint["optimizer"])
    optimizer.param_groups[0]["lr"], optimizer.param_groups[1]["lr"] = body_lr, head_lr
    return model, optimizer''',
}
ALT_2_QUIZ = {"q1": 0.2, "q3": 0.0030, "q4": 4e-3}
ALT_2_Q2 = '''q2 = torch.optim.RMSprop([torch.zeros(1, requires_grad=True)]).defaults["lr"]   # read, not guessed
check("ps2.q2", q2)'''


# --- wrong answers wearing a torch.Tensor subclass that agrees with every test ----------------------
AGREE = AGREEING_TENSOR + '''
def _agreeing(model):
    """model, its parameters swapped for _Agree tensors with the same values."""
    for module in model.modules():
        for name, p in list(module._parameters.items()):
            module._parameters[name] = torch.nn.Parameter(p.detach().as_subclass(_Agree))
    return model
'''
SUBCLASS = {
    "fixed-a": AGREE + '''
def fixed_a(model):
    return torch.optim.SGD([{"params": _agreeing(model).body.parameters(), "lr": 0.01},
                            {"params": model.head.parameters(), "lr": 0.1}])''',
    "fixed-b": WRONG["fixed-b"].replace("list(model.body", "list(_agreeing(model).body"),
    "fixed-c": WRONG["fixed-c"].replace("decay = [p for p in model", "decay = [p for p in _agreeing(model)", 1),
    "resume": WRONG["resume"].replace("return model,", "return _agreeing(model),"),
}


KIT = Kit("ps2_default_lr", written_answers={"explain-resume-schedule": EXPLANATION})


def samples() -> dict:
    out = {"perfect": KIT.solved(), "untouched": KIT.untouched()}
    nb = KIT.solved()  # right: q1, 2a, the audit part of 2c, q4; wrong: the rest
    KIT.quiz(nb, q2=0.001, q3=0.01)          # SGD's default; the misspelled key's value
    set_answer(nb, "fixed-b", HALF_FIXED_B)
    set_answer(nb, "fixed-c", TYPO_ONLY_C)
    set_answer(nb, "one-cycle", SCALAR_CYCLE)
    set_answer(nb, "resume", LRS_BEFORE_LOAD)
    out["partial"] = nb
    out["wrong"] = KIT.answered(WRONG, **WRONG_QUIZ)
    out["alt_correct_1"] = KIT.answered(ALT_1, **ALT_1_QUIZ)
    out["alt_correct_2"] = KIT.answered({**ALT_2, "quiz-q2": ALT_2_Q2}, **ALT_2_QUIZ)
    out.update(cheats(out["wrong"]))
    out["cheat_tensor_subclass"] = KIT.answered({**WRONG, **SUBCLASS}, **WRONG_QUIZ)
    return out


if __name__ == "__main__":
    KIT.write(samples(), sys.argv[1:])
