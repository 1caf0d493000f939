"""char-transformer options (position, norm, mlp, qk_norm, tie_embeddings, zero_init_proj), each checked
against a computation written out here: a float64 reference forward, formulas, counts, and old checkpoints."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from torch.nn import functional as F

import attn.models.char_transformer as char_transformer
from attn.attention import capture_attention
from attn.errors import RecipeError
from attn.models.char_transformer import MLP, CharTransformer, CharTransformerConfig, swiglu_hidden
from attn.schema import build_section

OPTIONS = {
    "position": ["learned", "rope"],
    "norm": ["layernorm", "rmsnorm"],
    "mlp": ["gelu", "relu2", "swiglu"],
    "qk_norm": [False, True],
    "tie_embeddings": [True, False],
    "zero_init_proj": [False, True],
}
EVERY_COMBINATION = [dict(zip(OPTIONS, values)) for values in itertools.product(*OPTIONS.values())]
ALL_NEW = {
    "position": "rope",
    "norm": "rmsnorm",
    "mlp": "swiglu",
    "qk_norm": True,
    "tie_embeddings": False,
    "zero_init_proj": True,
}
VOCAB = 11
EPS = 1e-5  # the documented eps of every norm


def name(options: dict) -> str:
    return "-".join(str(v) if not isinstance(v, bool) else f"{k}={v}" for k, v in options.items())


def transformer(**kw: object) -> CharTransformer:
    cfg = CharTransformerConfig(**{"n_layer": 2, "n_head": 2, "d_model": 16, "block_size": 8, "dropout": 0.0, **kw})
    torch.manual_seed(0)
    return CharTransformer(cfg, vocab_size=VOCAB).eval()


def randomise(model: CharTransformer, seed: int = 0) -> CharTransformer:
    """Every parameter random (norm gains around 1), so that no weight is zero, one or tiny."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param_name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
            is_gain = p.dim() == 1 and param_name.endswith("weight")
            p.copy_(1.0 + 0.2 * noise if is_gain else 0.3 * noise)
    return model


def reference_forward(model: CharTransformer, idx: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The model's function in float64, from its state dict and the options' formulas; (logits, weights per layer)."""
    cfg = model.cfg
    w = {k: v.double() for k, v in model.state_dict().items()}
    d, heads = cfg.d_model, cfg.n_head
    hd = d // heads

    def linear(x: torch.Tensor, key: str) -> torch.Tensor:
        y = x @ w[f"{key}.weight"].T
        return y + w[f"{key}.bias"] if f"{key}.bias" in w else y

    def rms_norm(x: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * gain

    def norm(x: torch.Tensor, key: str) -> torch.Tensor:
        if cfg.norm == "rmsnorm":
            return rms_norm(x, w[f"{key}.weight"])
        centred = x - x.mean(-1, keepdim=True)
        y = centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + EPS) * w[f"{key}.weight"]
        return y + w[f"{key}.bias"] if f"{key}.bias" in w else y

    def rotation(t: int) -> torch.Tensor:
        """RoFormer's block-diagonal matrix R_t: pair i turns by t * 10000^(-2i/hd)."""
        r = torch.zeros(hd, hd, dtype=torch.float64)
        for i in range(hd // 2):
            angle = t * 10000.0 ** (-2 * i / hd)
            c, s = math.cos(angle), math.sin(angle)
            r[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
        return r

    b, t = idx.shape
    x = w["tok_emb.weight"][idx]
    if cfg.position == "learned":
        x = x + w["pos_emb.weight"][:t]
    future = torch.ones(t, t, dtype=torch.bool).triu(1)
    all_weights = []
    for layer in range(cfg.n_layer):
        p = f"blocks.{layer}"
        h = norm(x, f"{p}.ln1")
        q, k, v = (linear(h, f"{p}.attn.{n}_proj").view(b, t, heads, hd).transpose(1, 2) for n in "qkv")
        if cfg.qk_norm:
            q, k = rms_norm(q, w[f"{p}.attn.q_norm.weight"]), rms_norm(k, w[f"{p}.attn.k_norm.weight"])
        if cfg.position == "rope":
            rotations = torch.stack([rotation(i) for i in range(t)])  # (T, hd, hd)
            q = torch.einsum("tij,bhtj->bhti", rotations, q)
            k = torch.einsum("tij,bhtj->bhti", rotations, k)
        scores = (q @ k.transpose(-2, -1) / math.sqrt(hd)).masked_fill(future, -math.inf)
        weights = torch.softmax(scores, dim=-1)
        all_weights.append(weights)
        x = x + linear((weights @ v).transpose(1, 2).reshape(b, t, d), f"{p}.attn.out_proj")
        h = norm(x, f"{p}.ln2")
        if cfg.mlp == "gelu":
            hidden = 0.5 * linear(h, f"{p}.mlp.fc1") * (1 + torch.erf(linear(h, f"{p}.mlp.fc1") / math.sqrt(2)))
        elif cfg.mlp == "relu2":
            hidden = linear(h, f"{p}.mlp.fc1").clamp(min=0) ** 2
        else:
            gate = linear(h, f"{p}.mlp.gate")
            hidden = gate * torch.sigmoid(gate) * linear(h, f"{p}.mlp.fc1")
        x = x + linear(hidden, f"{p}.mlp.fc2")
    return norm(x, "ln_f") @ w["head.weight"].T, all_weights


REFERENCE_CASES = [
    {**options, "bias": bias, "attention": backend}
    for options in EVERY_COMBINATION
    if not options["zero_init_proj"]  # the weights are randomised: zero_init_proj changes nothing here
    for bias in (False, True)
    for backend in ("sdpa", "manual")
]


@pytest.mark.parametrize("options", REFERENCE_CASES, ids=name)
def test_forward_equals_a_float64_reference_for_every_option(options: dict) -> None:
    model = randomise(transformer(**options)).double()
    idx = torch.randint(VOCAB, (2, 8), generator=torch.Generator().manual_seed(1))
    expected, _ = reference_forward(model, idx)
    torch.testing.assert_close(model(idx), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("options", EVERY_COMBINATION, ids=name)
def test_manual_and_sdpa_backends_agree_for_every_option(options: dict) -> None:
    fused, manual = transformer(attention="sdpa", **options), transformer(attention="manual", **options)
    randomise(fused)
    manual.load_state_dict(fused.state_dict())
    x = torch.randint(VOCAB, (3, 8), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(fused(x), manual(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("options", EVERY_COMBINATION, ids=name)
def test_changing_a_future_token_never_changes_earlier_logits(options: dict) -> None:
    model = randomise(transformer(**options))
    x = torch.randint(VOCAB, (2, 8), generator=torch.Generator().manual_seed(3))
    y = x.clone()
    y[:, 5:] = (x[:, 5:] + 1) % VOCAB  # only positions 5..7 change
    before, after = model(x), model(y)
    torch.testing.assert_close(before[:, :5], after[:, :5], rtol=0, atol=1e-6)
    assert not torch.allclose(before[:, 5:], after[:, 5:], atol=1e-3)


@pytest.mark.parametrize("bias", [False, True])
def test_relu2_and_swiglu_mlps_follow_their_formulas(bias: bool) -> None:
    torch.manual_seed(4)
    x = torch.randn(3, 5, 12)
    relu2 = MLP(CharTransformerConfig(d_model=12, n_head=1, dropout=0.0, bias=bias, mlp="relu2"))
    w1, w2 = relu2.fc1.weight, relu2.fc2.weight
    b1, b2 = (relu2.fc1.bias, relu2.fc2.bias) if bias else (0.0, 0.0)
    assert w1.shape == (48, 12)
    pre = x @ w1.T + b1
    torch.testing.assert_close(relu2(x), torch.where(pre > 0, pre * pre, 0.0) @ w2.T + b2)

    swiglu = MLP(CharTransformerConfig(d_model=12, n_head=1, dropout=0.0, bias=bias, mlp="swiglu"))
    wg, w1, w2 = swiglu.gate.weight, swiglu.fc1.weight, swiglu.fc2.weight
    bg, b1, b2 = (swiglu.gate.bias, swiglu.fc1.bias, swiglu.fc2.bias) if bias else (0.0, 0.0, 0.0)
    assert w1.shape == wg.shape == (32, 12) and w2.shape == (12, 32)  # 8/3 * 12 = 32
    gate = x @ wg.T + bg
    torch.testing.assert_close(swiglu(x), (gate / (1 + torch.exp(-gate)) * (x @ w1.T + b1)) @ w2.T + b2)


def test_rmsnorm_option_puts_rmsnorms_where_the_layernorms_were() -> None:
    model = transformer(norm="rmsnorm", bias=True).double()
    norms = [model.ln_f] + [n for block in model.blocks for n in (block.ln1, block.ln2)]
    assert all(isinstance(n, torch.nn.RMSNorm) for n in norms)
    assert not any(isinstance(m, torch.nn.LayerNorm) for m in model.modules())
    x = torch.randn(4, 16, dtype=torch.float64) * 3
    gain = torch.rand(16, dtype=torch.float64) + 0.5
    with torch.no_grad():
        model.ln_f.weight.copy_(gain)
    expected = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * gain
    torch.testing.assert_close(model.ln_f(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("position", ["learned", "rope"])
def test_qk_norm_gives_queries_and_keys_unit_rms_per_head(position: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    original = char_transformer.scaled_dot_product_attention

    def recording(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, **kw: object) -> object:
        seen.append((q, k))
        return original(q, k, v, **kw)

    monkeypatch.setattr(char_transformer, "scaled_dot_product_attention", recording)
    idx = torch.randint(VOCAB, (2, 8), generator=torch.Generator().manual_seed(5))
    model = randomise(transformer(qk_norm=True, position=position))
    with torch.no_grad():
        for block in model.blocks:
            block.attn.q_norm.weight.fill_(1.0)
            block.attn.k_norm.weight.fill_(1.0)
    model(idx)
    assert len(seen) == 2
    for q, k in seen:
        assert q.shape == k.shape == (2, 2, 8, 8)  # (B, H, T, head_dim)
        for tensor in (q, k):
            rms = tensor.pow(2).mean(-1).sqrt()
            torch.testing.assert_close(rms, torch.ones_like(rms), rtol=0, atol=1e-4)  # eps 1e-5 is all that is off
    seen.clear()
    transformer(qk_norm=False, position=position)(idx)
    assert all(q.pow(2).mean(-1).sqrt().max() < 0.5 for q, _ in seen)  # without it, far from 1 at init


def test_untied_head_is_a_separate_parameter_of_vocab_by_d_model() -> None:
    tied, untied = transformer(), transformer(tie_embeddings=False)
    assert tied.head.weight is tied.tok_emb.weight
    assert untied.head.weight is not untied.tok_emb.weight
    assert not torch.equal(untied.head.weight, untied.tok_emb.weight)
    assert untied.num_params() == tied.num_params() + VOCAB * 16
    assert len(list(untied.parameters())) == len(list(tied.parameters())) + 1
    # FLOPs count the head's matmul but neither lookup table (positions 8 x 16, tokens 11 x 16).
    assert untied.flops_per_token() == 6 * (untied.num_params() - 8 * 16 - VOCAB * 16) + 12 * 2 * 16 * 8
    assert tied.flops_per_token() == 6 * (tied.num_params() - 8 * 16) + 12 * 2 * 16 * 8


def test_rope_has_no_position_table() -> None:
    learned, rope = transformer(), transformer(position="rope")
    assert rope.pos_emb is None and not any("pos_emb" in k for k in rope.state_dict())
    assert rope.num_params() == learned.num_params() - 8 * 16
    assert rope.num_params(non_embedding=True) == learned.num_params(non_embedding=True)


@pytest.mark.parametrize("position", ["learned", "rope"])
def test_zero_init_proj_blocks_start_as_the_identity_and_still_learn(position: str) -> None:
    model = transformer(zero_init_proj=True, position=position, bias=True, dropout=0.1).train()
    projections = [p for n, p in model.named_parameters() if n.endswith(("out_proj.weight", "fc2.weight"))]
    assert len(projections) == 4 and all(torch.count_nonzero(p) == 0 for p in projections)
    idx = torch.randint(VOCAB, (2, 8), generator=torch.Generator().manual_seed(6))
    model.eval()
    x = model.tok_emb(idx) + (model.pos_emb(torch.arange(8)) if position == "learned" else 0)
    torch.testing.assert_close(model(idx), model.head(model.ln_f(x)))  # the blocks skipped
    logits = model(idx)
    F.cross_entropy(logits.flatten(0, 1), idx.flatten()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in projections)
    default = transformer()
    assert all(p.abs().sum() > 0 for n, p in default.named_parameters() if n.endswith("out_proj.weight"))


@pytest.mark.parametrize("n_layer, d_model", [(2, 32), (3, 100), (4, 128), (6, 384), (2, 512)])
def test_swiglu_parameter_count_is_within_8_d_model_per_block_of_gelu(n_layer: int, d_model: int) -> None:
    def count(mlp: str) -> int:
        cfg = CharTransformerConfig(n_layer=n_layer, n_head=1, d_model=d_model, block_size=32, mlp=mlp)
        with torch.device("meta"):
            return CharTransformer(cfg, vocab_size=65).num_params()

    gelu, swiglu = count("gelu"), count("swiglu")
    hidden = swiglu_hidden(d_model)
    assert hidden % 8 == 0 and abs(hidden - 8 * d_model / 3) <= 4
    assert swiglu - gelu == n_layer * (3 * d_model * hidden - 8 * d_model * d_model)
    # The stated tolerance: within 8 * d_model per block, i.e. 2 / (3 d_model) of a block's 12 d_model^2 weights.
    assert abs(swiglu - gelu) <= 8 * d_model * n_layer
    if d_model % 3 == 0:
        assert swiglu == gelu
    assert count("relu2") == gelu


def test_capture_attention_sees_every_block_of_the_new_attention() -> None:
    model = randomise(transformer(**ALL_NEW)).double()
    idx = torch.randint(VOCAB, (2, 8), generator=torch.Generator().manual_seed(7))
    plain = model(idx)
    with capture_attention(model) as captured:
        out = model(idx)
    torch.testing.assert_close(out, plain)
    assert list(captured) == ["blocks.0.attn", "blocks.1.attn"]
    _, expected = reference_forward(model, idx)
    for got, want in zip(captured.values(), expected):
        assert got.shape == (2, 2, 8, 8)
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    assert all(block.attn.weights_hook is None for block in model.blocks)


def test_a_checkpoint_of_the_code_before_the_options_loads_strictly_and_computes_the_same() -> None:
    fixture = json.loads((Path(__file__).parent / "fixtures" / "char_transformer_7d3330e.json").read_text())
    model = CharTransformer(CharTransformerConfig(**fixture["config"]), fixture["vocab_size"]).eval()
    state = {k: torch.tensor(v) for k, v in fixture["state_dict"].items()}
    model.load_state_dict(state, strict=True)
    assert model.head.weight is model.tok_emb.weight
    logits = model(torch.tensor(fixture["input"]))
    torch.testing.assert_close(logits, torch.tensor(fixture["logits"]), rtol=1e-5, atol=1e-6)
    default_keys = list(CharTransformer(CharTransformerConfig(n_layer=2), vocab_size=5).state_dict())
    assert default_keys == fixture["default_config_keys"]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"position": "rope", "d_model": 30, "n_head": 6}, "'model.position' is 'rope'.*even head dim.*30 / 6 = 5"),
        ({"mlp": "swiglue"}, "'model.mlp' must be one of 'gelu', 'relu2', 'swiglu'.*did you mean 'swiglu'"),
        ({"norm": "batchnorm"}, "'model.norm' must be one of 'layernorm', 'rmsnorm'"),
        ({"position": "sinusoidal"}, "'model.position' must be one of 'learned', 'rope'"),
        ({"qk_norm": "yes"}, "'model.qk_norm' must be bool"),
    ],
)
def test_bad_options_are_recipe_errors_naming_the_key(section: dict, message: str) -> None:
    with pytest.raises(RecipeError, match=message):
        build_section(CharTransformerConfig, section, "model")
    assert build_section(CharTransformerConfig, {"position": "rope", "d_model": 32, "n_head": 4}, "model")


@pytest.mark.slow
def test_every_new_option_trains_resumes_and_generates(
    tmp_path: Path, corpus: Path, make_recipe: object, monkeypatch: pytest.MonkeyPatch, interrupt_after: object
) -> None:
    from attn.training.checkpoint import load_checkpoint
    from tests.helpers import run_cli as cli

    recipe = make_recipe(corpus, max_steps=24, eval_interval=8, log_interval=4)
    recipe["model"].update(ALL_NEW)
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert cli("train", path, "--runs-dir", tmp_path / "full", "-q").exit_code == 0
    (full,) = (tmp_path / "full").glob("*/*")
    with monkeypatch.context() as patch:
        interrupt_after(13, patch)
        assert cli("train", path, "--runs-dir", tmp_path / "split", "-q").exit_code == 130
    (split,) = (tmp_path / "split").glob("*/*")
    result = cli("train", "--resume", split, "-q")
    assert result.exit_code == 0, result.output

    resolved = yaml.safe_load((split / "recipe.yaml").read_text())["model"]
    assert {k: resolved[k] for k in ALL_NEW} == ALL_NEW
    summary = json.loads((split / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] == 24
    train = [r for r in map(json.loads, (full / "metrics.jsonl").read_text().splitlines()) if r["kind"] == "train"]
    assert train[-1]["train_loss"] < train[0]["train_loss"]
    weights_full = load_checkpoint(full / "checkpoints" / "last.pt")["model"]
    weights_split = load_checkpoint(split / "checkpoints" / "last.pt")["model"]
    assert "pos_emb.weight" not in weights_split and "blocks.0.mlp.gate.weight" in weights_split
    assert weights_full.keys() == weights_split.keys()
    assert all(torch.equal(weights_full[k], weights_split[k]) for k in weights_full)

    generated = cli("generate", split, "--seed", "To be", "--length", "30", "--random-seed", "0", "--device", "cpu")
    assert generated.exit_code == 0, generated.output
    assert generated.stdout.startswith("To be") and len(generated.stdout) == len("To be") + 30 + 1
    maps = cli("eval", split, "--attention-maps", "--text", "To be or not", "--device", "cpu")
    assert maps.exit_code == 0, maps.output
    assert len(json.loads((split / "attention_maps" / "stats.json").read_text())["heads"]) == 2 * 2
