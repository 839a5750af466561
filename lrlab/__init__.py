"""lrlab: helpers for the course on learning-rate differentials in PyTorch.

Modules, one job each: ``data`` (bundled digits), ``models`` (models with named parts),
``pretrained`` (the shipped pretrained body), ``vit`` (a small digits ViT, LoRA adapters),
``pretrained_vit`` (its shipped checkpoint, fine-tuning recipes and runs), ``groups`` (build,
audit and describe parameter groups), ``train`` (a seeded loop that records a ``History``),
``freeze`` (freezing and proving it), ``diagnose`` (read a History: healthy, overfitting,
unstable or too slow, and which group's lr to change), ``plots`` (loss curves), ``widgets`` (the
live lab), ``sweep`` (batched lr grids and seeds), ``quiz`` (self-check), ``probe`` (the
exercises' tests: a probe and a judge on plain data) and ``recipe`` (a fine-tuning recipe as
plain data, replayed by ps5's grader).
"""

__version__ = "0.1.0"
