"""Attention weights, parameter updates, history and checkpoint state of FeatureAttentionController."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from attn.tasks.eeg.controller import HEADS, FeatureAttentionController


def softmax_by_hand(scores: list[float], temperature: float) -> list[float]:
    exps = [math.exp(temperature * s) for s in scores]
    return [e / sum(exps) for e in exps]


# ----------------------------------------------------------------- attention weights


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 7.0])
def test_weights_are_tempered_softmax(temperature):
    ctl = FeatureAttentionController(temperature=temperature)
    scores = [0.9, 0.4, 0.8, 0.6]
    weights = ctl.compute_attention_weights(*scores)
    assert list(weights) == list(HEADS)
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-12)
    expected = torch.softmax(temperature * torch.tensor(scores, dtype=torch.float64), dim=0)
    assert list(weights.values()) == pytest.approx(expected.tolist(), rel=1e-12)


def test_temperature_multiplies_scores():
    ctl = FeatureAttentionController()
    scores = [0.9, 0.4, 0.8, 0.6]
    # the per-call temperature overrides the controller's; 0 gives uniform weights
    assert list(ctl.compute_attention_weights(*scores, temperature=0.0).values()) == pytest.approx([0.25] * 4)
    top = [ctl.compute_attention_weights(*scores, temperature=t)["texture"] for t in (0.5, 2.0, 8.0)]
    assert top[0] < top[1] < top[2]  # larger temperature = sharper specialisation
    with pytest.raises(ValueError):
        ctl.compute_attention_weights(*scores, temperature=-1.0)
    with pytest.raises(ValueError):
        ctl.compute_attention_weights(0.1, float("nan"), 0.2, 0.3)


# ----------------------------------------------------------------- the seed's worked example


def test_seed_worked_example_textured_image():
    """Seed 000 'Frog': scores -> weights -> update after the loss fell 0.25 -> 0.22."""
    ctl = FeatureAttentionController(sigma=0.3, tau=0.1)
    t, s, c, p = 0.9, 0.4, 0.8, 0.6
    z = math.exp(2 * t) + math.exp(2 * s) + math.exp(2 * c) + math.exp(2 * p)
    w_t, w_s, w_c, w_p = math.exp(2 * t) / z, math.exp(2 * s) / z, math.exp(2 * c) / z, math.exp(2 * p) / z
    weights = ctl.compute_attention_weights(t, s, c, p)
    assert weights == pytest.approx({"texture": w_t, "structure": w_s, "color": w_c, "spatial": w_p})
    assert max(weights, key=weights.get) == "texture"

    new = ctl.weighted_parameter_update({"sigma": 0.3, "tau": 0.1}, weights, 0.22 - 0.25)
    assert new["sigma"] == pytest.approx(0.3 * (1 + 0.02 * (w_t + w_c)))
    assert new["tau"] == pytest.approx(0.1 * (1 + 0.05 * (w_s + w_p)))


@pytest.mark.parametrize(
    "weights, sigma_factor, tau_factor",
    [
        # the seed's illustrative weights (not a softmax of its scores) and its factors
        (
            {"texture": 0.50, "structure": 0.10, "color": 0.25, "spatial": 0.15},
            1 + 0.02 * (0.50 + 0.25),
            1 + 0.05 * (0.10 + 0.15),
        ),
        (
            {"texture": 0.10, "structure": 0.50, "color": 0.20, "spatial": 0.20},
            1 + 0.02 * (0.10 + 0.20),
            1 + 0.05 * (0.50 + 0.20),
        ),
    ],
    ids=["frog", "car"],
)
def test_seed_update_factors(weights, sigma_factor, tau_factor):
    ctl = FeatureAttentionController()
    new = ctl.weighted_parameter_update({"sigma": 0.3, "tau": 0.1}, weights, -0.03)
    assert new["sigma"] / 0.3 == pytest.approx(sigma_factor)  # 1.015 / 1.006
    assert new["tau"] / 0.1 == pytest.approx(tau_factor)  # 1.0125 / 1.035


# ----------------------------------------------------------------- update rules


WEIGHTS = {"texture": 0.4, "structure": 0.1, "color": 0.3, "spatial": 0.2}


def test_direction_follows_the_loss():
    ctl = FeatureAttentionController(sigma=0.5, tau=0.5, sigma_rate=0.1, tau_rate=0.2)
    base = {"sigma": 0.5, "tau": 0.5}
    fell = ctl.weighted_parameter_update(base, WEIGHTS, -1e-9)
    rose = ctl.weighted_parameter_update(base, WEIGHTS, +3.0)
    same = ctl.weighted_parameter_update(base, WEIGHTS, 0.0)
    assert fell == pytest.approx({"sigma": 0.5 * (1 + 0.1 * 0.7), "tau": 0.5 * (1 + 0.2 * 0.3)})
    assert rose == pytest.approx({"sigma": 0.5 * (1 - 0.1 * 0.7), "tau": 0.5 * (1 - 0.2 * 0.3)})
    assert same == base
    # only the sign of the change matters, not its size
    assert ctl.weighted_parameter_update(base, WEIGHTS, -100.0) == fell


def test_heads_move_their_own_parameter():
    ctl = FeatureAttentionController(sigma=0.5, tau=0.5)
    base = {"sigma": 0.5, "tau": 0.5}
    texture_w = {"texture": 0.7, "structure": 0.1, "color": 0.1, "spatial": 0.1}
    structure_w = {"texture": 0.1, "structure": 0.7, "color": 0.1, "spatial": 0.1}
    texture_heavy = ctl.weighted_parameter_update(base, texture_w, -1)
    structure_heavy = ctl.weighted_parameter_update(base, structure_w, -1)
    assert texture_heavy["sigma"] > structure_heavy["sigma"]
    assert texture_heavy["tau"] < structure_heavy["tau"]


def test_update_is_clamped_to_configured_bounds():
    ctl = FeatureAttentionController(sigma=0.2, tau=0.2, sigma_bounds=(0.1, 0.2), tau_bounds=(0.2, 0.25), tau_rate=0.5)
    up = ctl.weighted_parameter_update({"sigma": 0.2, "tau": 0.2}, WEIGHTS, -1.0)
    assert up["sigma"] == 0.2  # would be 0.2 * 1.014
    assert up["tau"] == pytest.approx(0.2 * (1 + 0.5 * 0.3))  # 0.23, inside
    down = ctl.weighted_parameter_update({"sigma": 0.1, "tau": 0.2}, WEIGHTS, 1.0)
    assert down == {"sigma": 0.1, "tau": 0.2}
    # repeated growth saturates at the upper bound and stays there
    params = {"sigma": 0.15, "tau": 0.2}
    for _ in range(200):
        params = ctl.weighted_parameter_update(params, WEIGHTS, -1.0)
    assert params == {"sigma": 0.2, "tau": 0.25}


def test_update_returns_a_new_dict():
    ctl = FeatureAttentionController()
    base = {"sigma": 0.3, "tau": 0.1, "smooth_steps": 5}
    new = ctl.weighted_parameter_update(base, WEIGHTS, -1.0)
    assert base == {"sigma": 0.3, "tau": 0.1, "smooth_steps": 5}
    assert new is not base and new["smooth_steps"] == 5


@pytest.mark.parametrize(
    "base, weights, delta",
    [
        ({"sigma": 0.3}, WEIGHTS, -1.0),
        ({"sigma": 0.3, "tau": 0.1}, {"texture": 1.0}, -1.0),
        ({"sigma": 0.3, "tau": 0.1}, {"texture": 2.0, "structure": -1.0, "color": 0.0, "spatial": 0.0}, -1.0),
        ({"sigma": 0.3, "tau": 0.1}, {h: 0.5 for h in HEADS}, -1.0),  # does not sum to 1
        ({"sigma": 0.3, "tau": 0.1}, WEIGHTS, float("nan")),
    ],
)
def test_update_rejects_bad_input(base, weights, delta):
    with pytest.raises(ValueError):
        FeatureAttentionController().weighted_parameter_update(base, weights, delta)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sigma": 2.0},  # outside default bounds
        {"sigma_bounds": (0.5, 0.1)},
        {"tau_bounds": (-0.1, 1.0)},
        {"tau_bounds": (0.1,)},
        {"sigma_rate": 1.0},
        {"tau_rate": -0.1},
        {"temperature": float("nan")},
        {"max_history": 0},
    ],
)
def test_constructor_rejects_bad_config(kwargs):
    with pytest.raises(ValueError):
        FeatureAttentionController(**kwargs)


# ----------------------------------------------------------------- update_global_params


def test_global_update_without_patches_is_uniform():
    ctl = FeatureAttentionController(sigma=0.3, tau=0.1)
    assert ctl.update_global_params(0.5, 0.9) == {"sigma": 0.3, "tau": 0.1}  # first call: no change
    after_drop = ctl.update_global_params(0.4, 0.9)
    assert after_drop == pytest.approx({"sigma": 0.3 * (1 + 0.02 * 0.5), "tau": 0.1 * (1 + 0.05 * 0.5)})
    after_rise = ctl.update_global_params(0.45, 0.8)
    assert after_rise == pytest.approx(
        {"sigma": after_drop["sigma"] * (1 - 0.02 * 0.5), "tau": after_drop["tau"] * (1 - 0.05 * 0.5)}
    )
    assert ctl.loss_history == [0.5, 0.4, 0.45]
    assert ctl.smoothness_history == [0.9, 0.9, 0.8]
    assert ctl.attention_weights == {h: [0.25] * 3 for h in HEADS}


def test_global_update_with_eeg_patches_uses_their_features():
    # step-edge windows: texture = a^2 / (2 T (a/2)^2) = 2 / T, structure = 1, identical
    # channels -> color 0, centers 0 and 10 with patch length T: spatial = 2 * 5 / (10 + T)
    T = 40
    patches = np.zeros((2, 3, T))
    patches[..., T // 2 :] = 1.0
    centers = np.array([0.0, 10.0])
    scores = [2 / T, 1.0, 0.0, 2 * 5 / (10 + T)]
    w = dict(zip(HEADS, softmax_by_hand(scores, 2.0)))

    ctl = FeatureAttentionController(sigma=0.3, tau=0.1)
    ctl.update_global_params(1.0, 0.0, patches, centers)
    got = ctl.update_global_params(0.8, 0.0, torch.from_numpy(patches), centers)
    assert got == pytest.approx(
        {
            "sigma": 0.3 * (1 + 0.02 * (w["texture"] + w["color"])),
            "tau": 0.1 * (1 + 0.05 * (w["structure"] + w["spatial"])),
        }
    )
    for h in HEADS:
        assert ctl.attention_weights[h] == pytest.approx([w[h], w[h]])
        head = ctl.head_params[h]
        assert set(head) == {"sigma", "tau", "focus", "loss_history", "attention_history"}
        assert (head["sigma"], head["tau"]) == (got["sigma"], got["tau"])
        assert head["loss_history"] == [1.0, 0.8]
        assert head["attention_history"] == pytest.approx([w[h], w[h]])
    assert {h: ctl.head_params[h]["focus"] for h in HEADS} == {
        "texture": "sigma",
        "color": "sigma",
        "structure": "tau",
        "spatial": "tau",
    }


def test_global_update_rejects_bad_input():
    ctl = FeatureAttentionController()
    with pytest.raises(ValueError):
        ctl.update_global_params(float("nan"), 0.0)
    with pytest.raises(ValueError):
        ctl.update_global_params(1.0, 0.0, patches=np.zeros((2, 3, 10)))  # centers missing
    assert ctl.loss_history == []  # nothing recorded by failed calls


def test_history_keeps_the_most_recent_entries():
    ctl = FeatureAttentionController(max_history=3)
    for loss in [5.0, 4.0, 3.0, 2.0, 1.0]:
        ctl.update_global_params(loss, 0.0)
    assert ctl.loss_history == [3.0, 2.0, 1.0]
    assert all(len(v) == 3 for v in ctl.attention_weights.values())
    assert ctl.head_params["texture"]["loss_history"] == [3.0, 2.0, 1.0]


# ----------------------------------------------------------------- checkpoint state


def test_state_round_trip_resumes_exactly():
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(4, 3, 30)), rng.uniform(0, 100, 4)) for _ in range(6)]
    losses = [1.0, 0.9, 0.95, 0.7, 0.75, 0.6]
    cfg = dict(sigma=0.2, tau=0.3, sigma_bounds=(0.05, 0.5), tau_bounds=(0.1, 0.9), temperature=3.0, tau_rate=0.1)

    straight = FeatureAttentionController(**cfg)
    for (x, c), loss in zip(batches, losses):
        straight.update_global_params(loss, 0.5, x, c)

    first = FeatureAttentionController(**cfg)
    for (x, c), loss in zip(batches[:3], losses[:3]):
        first.update_global_params(loss, 0.5, x, c)
    saved = json.loads(json.dumps(first.state_dict()))  # plain python types only
    resumed = FeatureAttentionController()  # default config: the state restores it
    resumed.load_state_dict(saved)
    assert resumed.state_dict() == first.state_dict()
    for (x, c), loss in zip(batches[3:], losses[3:]):
        resumed.update_global_params(loss, 0.5, x, c)
    assert resumed.state_dict() == straight.state_dict()
    # the saved state is a copy, not a view of the live histories
    first.update_global_params(0.1, 0.5)
    assert len(saved["loss_history"]) == 3


def test_load_state_dict_rejects_foreign_state():
    ctl = FeatureAttentionController()
    with pytest.raises(ValueError):
        ctl.load_state_dict({"sigma": 0.3})
    state = ctl.state_dict()
    del state["loss_history"]
    with pytest.raises(ValueError):
        ctl.load_state_dict(state)
    state = ctl.state_dict()
    state["sigma"] = 5.0  # outside its bounds
    with pytest.raises(ValueError):
        ctl.load_state_dict(state)
