"""Regenerate the ps6 sample submissions from the released notebook and the solutions.

    python autograder/samples/ps6_transformer_fine_tuning/make_samples.py [SAMPLE ...]

Each sample starts from exercises/ps6_transformer_fine_tuning (what a student downloads) and fills
in answers. Expected scores: expected.json next to this file (by hand). The text answer is graded
by hand, so it adds nothing to the autograded score.
"""
from __future__ import annotations

import sys

from autograder.samplekit import AGREEING_TENSOR, Kit, cheat_samples

EXPLANATION = """(a) The embeddings and the first blocks compute general features of the pixels (strokes,
positions) that pretraining learned and every later layer builds on: moving them far destroys what
we wanted to reuse, so they get the smallest lr. The head is new and random and must learn
everything, so it gets the full lr; each layer below gets 0.65 times the one above.
(b) Lesson 07, 8 seeds, each recipe at its best lr of five: on clean digits LLRD 0.65 beat the best
single lr on 8/8 seeds (0.365 +- 0.051 vs 0.577 +- 0.132). On inverted digits it lost (lower on 2/8
seeds): the lowest layers must change most there, and LLRD gives them the smallest lr.
(c) AdamW shrinks a weight by lr x weight_decay per step, so the patch embedding gets 0.65**5 = 0.12
of the head's decay: a smaller lr is a smaller decay too."""

# Task 1, partly right: the lrs by layer, but weight decay on every tensor (biases and norms too)
DECAY_ALL = '''def llrd_groups(model, lr, decay, weight_decay):
    depth = len(model.blocks)
    groups = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            layer = layer_id(name, depth)
            groups.setdefault(layer, {"params": [], "lr": lr * decay ** (depth + 1 - layer),
                                      "weight_decay": weight_decay})["params"].append(p)
    return list(groups.values())'''

# Task 2, partly right: plain LoRA, lora_B at lr (the ratio forgotten)
PLAIN_LORA = '''def lora_optimizer(model, lr, ratio, head_lr):
    lora = [p for n, p in model.named_parameters() if "lora_" in n]
    return torch.optim.AdamW([{"params": lora, "lr": lr},
                              {"params": model.head.parameters(), "lr": head_lr}], weight_decay=0.0)'''

# Honest wrong answers: one lr and one weight decay for everything; every tensor in the optimizer
ONE_GROUP = '''def llrd_groups(model, lr, decay, weight_decay):
    return [{"params": model.parameters(), "lr": lr, "weight_decay": weight_decay}]'''

ALL_AT_LR = '''def lora_optimizer(model, lr, ratio, head_lr):
    return torch.optim.AdamW(model.parameters(), lr=lr)'''

# Right in another style: by module, one group per tensor, in one comprehension (only 2-D tensors
# decay: embed.pos and embed.cls are 3-D); the adapters found by their class
BY_MODULE = '''def llrd_groups(model, lr, decay, weight_decay):
    L = len(model.blocks)
    layers = [[model.embed], *[[block] for block in model.blocks], [model.norm, model.head]]
    return [{"params": [p], "lr": lr * decay ** (L + 1 - k),
             "weight_decay": weight_decay if p.ndim == 2 else 0.0}
            for k, modules in enumerate(layers) for module in modules
            for p in module.parameters() if p.requires_grad]'''

BY_CLASS = '''def lora_optimizer(model, lr, ratio, head_lr):
    from lrlab.vit import LoRALinear
    adapters = [m for m in model.modules() if isinstance(m, LoRALinear)]
    return torch.optim.AdamW([
        {"params": [a.lora_A for a in adapters], "lr": lr, "weight_decay": 0},
        {"params": [a.lora_B for a in adapters], "lr": lr * ratio, "weight_decay": 0},
        {"params": model.head.parameters(), "lr": head_lr, "weight_decay": 0},
    ])'''

# Right in another style: timm's param_groups_layer_decay, with its lr_scale multiplied into lr;
# LoRA+ groups of (name, tensor) pairs, as torch 2.13 accepts them
TIMM = '''def llrd_groups(model, lr, decay, weight_decay):
    # timm's param_groups_layer_decay, with lr_scale multiplied in: torch.optim ignores lr_scale
    num_layers = len(model.blocks) + 1
    no_weight_decay_list = ("embed.pos", "embed.cls")
    param_groups = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if param.ndim == 1 or name in no_weight_decay_list:
            g_decay, this_decay = "no_decay", 0.0
        else:
            g_decay, this_decay = "decay", weight_decay
        layer = layer_id(name, len(model.blocks))
        group_name = f"layer_{layer}_{g_decay}"
        if group_name not in param_groups:
            this_scale = decay ** (num_layers - layer)
            param_groups[group_name] = {"lr_scale": this_scale, "lr": lr * this_scale,
                                        "weight_decay": this_decay, "params": []}
        param_groups[group_name]["params"].append(param)
    return list(param_groups.values())'''

NAMED = '''def lora_optimizer(model, lr, ratio, head_lr):
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    pick = lambda part: [(n, p) for n, p in trainable if part in n]
    return torch.optim.AdamW([{"params": pick("lora_A"), "lr": lr},
                              {"params": pick("lora_B"), "lr": lr * ratio},
                              {"params": pick("head."), "lr": head_lr}], weight_decay=0.0)'''

# The lr_scale trap: timm's groups as timm returns them, handed to torch.optim.AdamW, which ignores
# lr_scale: every group trains at AdamW's default lr
LR_SCALE_TRAP = TIMM.replace('"lr_scale": this_scale, "lr": lr * this_scale,', '"lr_scale": this_scale,').replace(
    "    # timm's param_groups_layer_decay, with lr_scale multiplied in: torch.optim ignores lr_scale\n",
    "    # timm's param_groups_layer_decay: each group's lr is scaled by its lr_scale\n")

# Wrong answers that plant a Tensor subclass agreeing with every in-kernel check in the model the
# tests step: torch.equal says True and .item() says 0, whatever the values
TENSOR_SUBCLASS = AGREEING_TENSOR + '''
def llrd_groups(model, lr, decay, weight_decay):
    model.head.weight = torch.nn.Parameter(model.head.weight.detach().as_subclass(_Agree))
    model.embed.cls = torch.nn.Parameter(model.embed.cls.detach().as_subclass(_Agree))
    return [{"params": model.parameters(), "lr": lr, "weight_decay": weight_decay}]

def lora_optimizer(model, lr, ratio, head_lr):
    model.head.weight = torch.nn.Parameter(model.head.weight.detach().as_subclass(_Agree))
    return torch.optim.AdamW(model.parameters(), lr=lr)'''

KIT = Kit("ps6_transformer_fine_tuning", written_answers={"explain-llrd": EXPLANATION})


def wrong():
    return KIT.answered({"llrd-groups": ONE_GROUP, "lora-optimizer": ALL_AT_LR,
                         "explain-llrd": "One lr for the whole model is always as good."})


def samples() -> dict:
    out = {"perfect": KIT.solved(), "untouched": KIT.untouched()}
    out["partial"] = KIT.answered({"llrd-groups": DECAY_ALL, "lora-optimizer": PLAIN_LORA,
                                   "explain-llrd": "The lower layers are more important, so they "
                                                   "get a smaller lr. LLRD always helps."})
    out["wrong"] = wrong()
    out["alt_correct_1"] = KIT.answered({"llrd-groups": BY_MODULE, "lora-optimizer": BY_CLASS})
    out["alt_correct_2"] = KIT.answered({"llrd-groups": TIMM, "lora-optimizer": NAMED})
    out["lr_scale_trap"] = KIT.answered({"llrd-groups": LR_SCALE_TRAP})
    out.update(cheat_samples(wrong(), after="setup", subclass_after="lora-optimizer", subclass=TENSOR_SUBCLASS))
    return out


if __name__ == "__main__":
    KIT.write(samples(), sys.argv[1:])
