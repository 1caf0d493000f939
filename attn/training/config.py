"""The ``train`` section of a recipe: optimisation, schedule, evaluation, checkpoints, runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional, Union

from attn.errors import RecipeError
from attn.schema import option


@dataclass
class TrainConfig:
    """How a model is trained. Steps count optimizer updates."""

    batch_size: int = option(
        64,
        help="examples (sequences, windows) per optimizer step, over all processes and micro-batches "
        "(the global batch; see grad_accum_steps)",
        min=1,
    )
    grad_accum_steps: int = option(
        1,
        help="split each process's share of the batch into this many micro-batches, one forward and backward "
        "each, then one optimizer step: the gradient of the whole batch with the activation memory of one "
        "micro-batch (layers with batch statistics, such as BatchNorm, see micro-batches; a k that divides "
        "the per-process batch keeps every micro-batch the same shape, which torch.compile prefers)",
        min=1,
    )
    max_steps: Optional[int] = option(
        5000, help="optimizer steps to train for; null to use epochs or max_time_s", min=1
    )
    epochs: Optional[int] = option(
        None,
        help="passes over the training split (tasks with a fixed training set); sets max_steps from its size",
        min=1,
    )
    max_time_s: Optional[float] = option(
        None,
        help="stop after this many seconds of training, evaluations not counted (the schedule then follows "
        "this training clock)",
        min=0,
        min_exclusive=True,
    )
    optimizer: Literal["adamw", "muon"] = option(
        "adamw",
        help="adamw: AdamW for every parameter; muon: torch.optim.Muon for the 2-D weight matrices inside the "
        "model's repeated blocks and AdamW (lr) for the rest (embeddings, head, norms, biases, convolutions); "
        "a model without repeated blocks uses AdamW throughout",
    )
    lr: float = option(1e-3, help="peak learning rate of AdamW", min=0, min_exclusive=True)
    min_lr: float = option(
        1e-4, help="learning rate at the end of the decay (Muon's ends at muon_lr * min_lr / lr)", min=0
    )
    warmup_steps: int = option(100, help="steps of linear warmup from 0 to lr", min=0)
    schedule: Literal["cosine", "constant", "wsd"] = option(
        "cosine",
        help="after warmup: cosine decay to min_lr, constant, or wsd (warmup-stable-decay: hold lr, then decay "
        "linearly to min_lr over the last decay_fraction of the steps after warmup, or of max_time_s)",
    )
    decay_fraction: float = option(
        0.2,
        help="wsd: the final fraction of the run spent decaying (unused by other schedules)",
        min=0,
        max=1,
        min_exclusive=True,
    )
    weight_decay: float = option(0.1, help="AdamW weight decay, applied to weight matrices only", min=0)
    muon_lr: float = option(
        0.02,
        help="optimizer muon: Muon's peak learning rate (scaled by the schedule like lr; torch's Muon multiplies "
        "it by sqrt(max(1, rows/cols)) per matrix); unused with adamw",
        min=0,
        min_exclusive=True,
    )
    muon_momentum: float = option(
        0.95, help="optimizer muon: Muon's Nesterov momentum; unused with adamw", min=0, max=1, max_exclusive=True
    )
    muon_weight_decay: float = option(
        0.0,
        help="optimizer muon: decoupled weight decay of the Muon matrices (each step multiplies them by "
        "1 - muon_lr_t * muon_weight_decay; separate from weight_decay since Muon's lr is ~10x AdamW's)",
        min=0,
    )
    muon_ns_steps: int = option(
        5,
        help="optimizer muon: Newton-Schulz iterations that orthogonalise each update (torch's Muon ns_steps; "
        "fewer are cheaper, which matters on CPUs); unused with adamw",
        min=1,
        max=99,
    )
    ema_decay: Optional[float] = option(
        None,
        help="keep an exponential moving average of the weights with this decay per step (e.g. 0.998; "
        "bias-corrected, so it averages only trained weights); evaluation, best.pt, attn generate and attn "
        "eval then use the average; null: off",
        min=0,
        max=1,
        min_exclusive=True,
        max_exclusive=True,
    )
    beta1: float = option(0.9, help="AdamW beta1", min=0, max=1, max_exclusive=True)
    beta2: float = option(0.99, help="AdamW beta2", min=0, max=1, max_exclusive=True)
    grad_clip: Optional[float] = option(
        1.0, help="clip the global gradient norm to this value; null for no clipping", min=0, min_exclusive=True
    )
    eval_interval: Optional[int] = option(
        250, help="evaluate every N steps (null: once per epoch for tasks with epochs, else at the end)", min=1
    )
    eval_interval_s: Optional[float] = option(
        None,
        help="also evaluate at the first log point after the training clock (evaluations not counted) passes "
        "each multiple of this many seconds (a cadence for time budgets); null: by steps only",
        min=0,
        min_exclusive=True,
    )
    eval_batches: int = option(
        200,
        help="batches per split in each evaluation during training (tasks that sample their evaluation; their "
        "windows are drawn once and kept, hence the bound)",
        min=1,
        max=100_000,
    )
    log_interval: int = option(10, help="log the training loss every N steps", min=1)
    loggers: list[Literal["tensorboard", "wandb", "mlflow", "csv"]] = option(
        [],
        help="experiment trackers that also get every metric, the recipe and the plots (rank 0; "
        "each is an extra, e.g. pip install 'attn[tensorboard]'; README: Experiment trackers)",
    )
    checkpoint_interval: Optional[int] = option(
        None, help="save last.pt every N steps (null: at every evaluation)", min=1
    )
    early_stopping_patience: Optional[int] = option(
        None, help="stop after N evaluations without improvement; null to never stop early", min=1
    )
    final_eval: Literal["full", "sampled", "none"] = option(
        "full",
        help="at the end, evaluate the best checkpoint on the whole validation split (full) or on eval_batches batches (sampled)",
    )
    seed: int = option(
        1337,
        help="random seed for initialisation, batches and dropout (torch takes 64-bit seeds)",
        min=0,
        max=2**63 - 1,
    )
    device: str = option("auto", help="auto, cpu, cuda, cuda:N or mps (the --device option overrides it)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option(
        "auto", help="auto: bf16 autocast on CUDA, fp32 elsewhere"
    )
    compile: Union[bool, Literal["auto"]] = option("auto", help="torch.compile the model (auto: on CUDA only)")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] = option(
        "default", help="torch.compile mode (reduce-overhead adds CUDA graphs)"
    )
    compile_scope: Literal["model", "blocks"] = option(
        "model", help="compile the whole model, or each repeated block separately (compiles once, much faster to start)"
    )
    cuda_graphs: bool = option(
        False, help="replay each training step as one CUDA graph (CUDA, one process, fixed batch shape)"
    )

    def validate(self, section: str) -> None:
        twice = sorted({name for name in self.loggers if self.loggers.count(name) > 1})
        if twice:
            raise RecipeError(f"recipe key '{section}.loggers' names {', '.join(map(repr, twice))} more than once")
        if self.min_lr > self.lr:
            raise RecipeError(
                f"recipe key '{section}.min_lr' must be <= {section}.lr ({self.lr:g}) (got {self.min_lr:g})"
            )
        if self.max_steps is None and self.epochs is None and self.max_time_s is None:
            raise RecipeError(f"recipe section '{section}' needs a length: set max_steps, epochs or max_time_s")
        if self.grad_accum_steps > self.batch_size:
            raise RecipeError(
                f"recipe key '{section}.grad_accum_steps' must be <= {section}.batch_size ({self.batch_size}): "
                f"each micro-batch needs at least one example (got {self.grad_accum_steps})"
            )
