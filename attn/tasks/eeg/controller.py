"""Feature-attention controller: four heads that adapt two parameters from what the data look like.

The controller (after seed document 000, an image EM learner) scores a batch of patches on four
features -- texture, structure, color, spatial -- turns the scores into attention weights with a
tempered softmax, and nudges two positive parameters after every loss:

* ``sigma`` is moved by the texture and color heads (in EEG training: the Gaussian-noise level),
* ``tau`` is moved by the structure and spatial heads (in EEG training: the temporal smoothing).

When the loss fell both grow, when it rose both shrink, by factors
``1 +/- rate * (sum of the two heads' weights)``; results are clamped to configurable bounds.

Two patch layouts are understood, told apart by rank:

* images ``(N, H, W, C)`` with ``centers`` ``(N, 2)`` as (row, col);
* EEG ``(N, channels, time)`` with ``centers`` ``(N,)`` or ``(N, 1)`` as time positions.

The "signal axes" are (H, W) for images and time for EEG; the "channel axis" is C (RGB) for
images and the electrodes for EEG (electrode order carries no geometry, so EEG is never
differenced across channels).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

HEADS: tuple[str, ...] = ("texture", "structure", "color", "spatial")
SIGMA_HEADS: tuple[str, ...] = ("texture", "color")
TAU_HEADS: tuple[str, ...] = ("structure", "spatial")
_FOCUS = {"texture": "sigma", "color": "sigma", "structure": "tau", "spatial": "tau"}
_STATE_VERSION = 2  # 1 also stored every history a second time per head; it still loads
_READABLE_VERSIONS = (1, 2)


# --------------------------------------------------------------------------- feature scores


def _to_float64(name: str, value: Any) -> np.ndarray:
    """A finite float64 numpy copy of an array-like (numpy, list or torch tensor)."""
    if hasattr(value, "detach"):  # torch tensor, possibly on a GPU or requiring grad
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a numeric array ({err})") from None
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _safe_ratio(num: float, den: float, floor: float) -> float:
    """num / den, or 0 when den is at rounding-noise level (a constant input: 0/0)."""
    return 0.0 if den <= floor else num / den


def _noise_floor(x: np.ndarray) -> float:
    """Energy below which a centred sum of squares is only float rounding of a constant."""
    scale = float(np.max(np.abs(x))) if x.size else 0.0
    return x.size * (64.0 * np.finfo(np.float64).eps * scale) ** 2


def texture_score(x: np.ndarray, signal_axes: Sequence[int]) -> float:
    """Normalised first-difference ("Dirichlet") energy, clipped to [0, 1].

    ``min(1, sum (x[i+1] - x[i])^2 / (2 * sum (x[i] - line_mean)^2))`` with both sums taken
    along every signal axis over all lines (rows/columns per channel, or each channel's time
    series) of all patches. In spectral terms it is the power-weighted mean of
    ``2 sin^2(pi f)`` (f in cycles/sample), a high-frequency energy fraction whose value for
    white noise is 1 in expectation: a constant patch gives 0, smooth signals and single edges
    give values near 0, white noise (or anything rougher) gives 1.
    """
    num = den = 0.0
    for axis in signal_axes:
        num += float(np.sum(np.diff(x, axis=axis) ** 2))
        den += float(np.sum((x - x.mean(axis=axis, keepdims=True)) ** 2))
    return min(1.0, _safe_ratio(num, 2.0 * den, 2.0 * _noise_floor(x)))


def structure_score(x: np.ndarray, signal_axes: Sequence[int]) -> float:
    """Gradient coherence: ``sum(range of each line) / sum(total variation of each line)``.

    Lines are taken along every signal axis, as for :func:`texture_score`. A line's range never
    exceeds its total variation (the sum of ``|x[i+1] - x[i]|``), so the score is in [0, 1]: it is
    1 when every line changes monotonically (a step edge, a ramp), about ``1/(2k)`` for ``k``
    oscillation periods, small for noise (its gradients keep changing sign), and 0 for a
    constant patch.
    """
    ranges = variation = 0.0
    for axis in signal_axes:
        ranges += float(np.sum(np.ptp(x, axis=axis)))
        variation += float(np.sum(np.abs(np.diff(x, axis=axis))))
    return min(1.0, _safe_ratio(ranges, variation, 0.0))


def color_score(x: np.ndarray, channel_axis: int, sample_axes: Sequence[int]) -> float:
    """Fraction of the (channel-centred) energy that differs between channels.

    Each channel is centred on its mean over the whole batch (``sample_axes``: patches and signal
    axes), ``x_c``; with ``m`` the per-position mean over channels, the score is
    ``sum (x_c - m)^2 / sum x_c^2`` in [0, 1]: 0 when all channels are identical (grey images,
    identical electrodes) or the batch is constant, ``(C - 1) / C`` for independent channels of
    equal power, 1 when channels cancel (e.g. R and G anti-correlated).
    """
    centred = x - x.mean(axis=tuple(sample_axes), keepdims=True)
    common = centred.mean(axis=channel_axis, keepdims=True)
    num = float(np.sum((centred - common) ** 2))
    den = float(np.sum(centred**2))
    return min(1.0, _safe_ratio(num, den, _noise_floor(x)))


def spatial_score(centers: np.ndarray, extent: np.ndarray) -> float:
    """Mean over axes of ``2 * std(centers) / extent`` in [0, 1].

    By Popoviciu's inequality a spread of points inside an interval of length ``L`` has
    ``std <= L / 2``, so each term is bounded: 0 when all centers coincide, about 0.58
    (``1/sqrt(3)``) for centers spread uniformly over the extent, 1 when they split between the
    two ends.
    """
    stds = centers.std(axis=0)
    return float(np.mean(np.minimum(1.0, 2.0 * stds / extent)))


# --------------------------------------------------------------------------- controller


class FeatureAttentionController:
    """Adapts ``sigma`` and ``tau`` with four feature-attention heads.

    Args:
        sigma, tau: initial values (inside their bounds).
        sigma_bounds, tau_bounds: ``(low, high)`` with ``0 <= low <= high``; every update is
            clamped to them.
        temperature: softmax sharpness; weights are ``softmax(temperature * scores)``, so the
            seed's "temperature 2.0 for sharp specialization" reads as a multiplier (larger is
            sharper, 0 gives uniform weights).
        sigma_rate, tau_rate: relative step per update, in [0, 1) so that a shrink factor
            ``1 - rate * weight`` stays positive.
        max_history: how many past losses and weights are kept (oldest dropped first).
    """

    def __init__(
        self,
        sigma: float = 0.3,
        tau: float = 0.1,
        *,
        sigma_bounds: tuple[float, float] = (0.01, 1.0),
        tau_bounds: tuple[float, float] = (0.01, 1.0),
        temperature: float = 2.0,
        sigma_rate: float = 0.02,
        tau_rate: float = 0.05,
        max_history: int = 1000,
    ) -> None:
        self.sigma_bounds = _check_bounds("sigma_bounds", sigma_bounds)
        self.tau_bounds = _check_bounds("tau_bounds", tau_bounds)
        self.temperature = _check_temperature(temperature)
        self.sigma_rate = _check_rate("sigma_rate", sigma_rate)
        self.tau_rate = _check_rate("tau_rate", tau_rate)
        if isinstance(max_history, bool) or not isinstance(max_history, int) or max_history < 1:
            raise ValueError(f"max_history must be a positive integer (got {max_history!r})")
        self.max_history = max_history
        self.sigma = _check_inside("sigma", sigma, self.sigma_bounds)
        self.tau = _check_inside("tau", tau, self.tau_bounds)
        self.previous_loss: float | None = None
        self.loss_history: list[float] = []
        self.smoothness_history: list[float] = []
        self.attention_weights: dict[str, list[float]] = {h: [] for h in HEADS}

    # -- features and weights ------------------------------------------------------------

    def compute_patch_features(
        self, patches: Any, centers: Any, *, extent: Sequence[float] | float | None = None
    ) -> np.ndarray:
        """Scores ``[texture, structure, color, spatial]``, each in [0, 1].

        ``patches`` is ``(N, H, W, C)`` (images) or ``(N, channels, time)`` (EEG); ``centers``
        is ``(N, 2)`` (row, col) for images, ``(N,)`` or ``(N, 1)`` (time) for EEG. ``extent``
        is the size of the space the centers live in ((H, W) of the image, or the recording
        length); by default it is the span of the centers plus the patch size. See
        :func:`texture_score`, :func:`structure_score`, :func:`color_score` and
        :func:`spatial_score` for the exact formulas. Every score is unchanged when the
        patches are multiplied by a positive constant or shifted by one.
        """
        x = _to_float64("patches", patches)
        if x.ndim == 4:
            signal_axes, channel_axis, n_axes = (1, 2), 3, 2
        elif x.ndim == 3:
            signal_axes, channel_axis, n_axes = (2,), 1, 1
        else:
            raise ValueError(f"patches must be (N, H, W, C) images or (N, channels, time) EEG (got shape {x.shape})")
        if x.size == 0:
            raise ValueError(f"patches must not be empty (got shape {x.shape})")
        c = _to_float64("centers", centers)
        if n_axes == 1 and c.ndim == 1:
            c = c[:, None]
        if c.shape != (x.shape[0], n_axes):
            expected = f"({x.shape[0]}, 2)" if n_axes == 2 else f"({x.shape[0]},) or ({x.shape[0]}, 1)"
            raise ValueError(f"centers must have shape {expected} for patches {x.shape} (got {c.shape})")
        patch_size = np.array([x.shape[a] for a in signal_axes], dtype=np.float64)
        span = np.ptp(c, axis=0)
        if extent is None:
            size = span + patch_size
        else:
            size = np.broadcast_to(_to_float64("extent", extent), (n_axes,)).astype(np.float64)
            if np.any(size <= 0) or np.any(span > size):
                raise ValueError(
                    f"extent {size.tolist()} must be positive and cover the spread of the centers {span.tolist()}"
                )
        sample_axes = (0, *signal_axes)
        return np.array(
            [
                texture_score(x, signal_axes),
                structure_score(x, signal_axes),
                color_score(x, channel_axis, sample_axes),
                spatial_score(c, size),
            ]
        )

    def compute_attention_weights(
        self,
        texture: float,
        structure: float,
        color: float,
        spatial: float,
        temperature: float | None = None,
    ) -> dict[str, float]:
        """``softmax(temperature * [texture, structure, color, spatial])`` as a dict.

        ``temperature`` defaults to the controller's (2.0 unless configured).
        """
        t = self.temperature if temperature is None else _check_temperature(temperature)
        scores = _to_float64("feature scores", [texture, structure, color, spatial])
        logits = t * scores
        exp = np.exp(logits - logits.max())
        weights = exp / exp.sum()
        return {h: float(w) for h, w in zip(HEADS, weights)}

    # -- updates -------------------------------------------------------------------------

    def weighted_parameter_update(
        self,
        base_params: Mapping[str, Any],
        attention_weights: Mapping[str, float],
        loss_delta: float,
    ) -> dict[str, Any]:
        """New params after one loss change (``loss_delta`` = new loss - previous loss).

        With ``s = +1`` if the loss fell (``loss_delta < 0``), ``-1`` if it rose and ``0`` if
        unchanged::

            sigma *= 1 + s * sigma_rate * (w_texture + w_color)
            tau   *= 1 + s * tau_rate   * (w_structure + w_spatial)

        then clamped to the bounds. Other keys of ``base_params`` are copied through; the input
        is not modified.
        """
        missing = [k for k in ("sigma", "tau") if k not in base_params]
        if missing:
            raise ValueError(f"base_params lacks {', '.join(missing)}")
        w = _check_weights(attention_weights)
        delta = float(loss_delta)
        if not math.isfinite(delta):
            raise ValueError(f"loss_delta must be finite (got {loss_delta!r})")
        step = 1.0 if delta < 0 else -1.0 if delta > 0 else 0.0
        sigma_factor = 1.0 + step * self.sigma_rate * sum(w[h] for h in SIGMA_HEADS)
        tau_factor = 1.0 + step * self.tau_rate * sum(w[h] for h in TAU_HEADS)
        updated = dict(base_params)
        updated["sigma"] = _clamp(float(base_params["sigma"]) * sigma_factor, self.sigma_bounds)
        updated["tau"] = _clamp(float(base_params["tau"]) * tau_factor, self.tau_bounds)
        return updated

    def update_global_params(
        self,
        loss_value: float,
        smoothness_score: float,
        patches: Any = None,
        centers: Any = None,
        *,
        extent: Sequence[float] | float | None = None,
        features: Sequence[float] | None = None,
    ) -> dict[str, float]:
        """Record one loss and move ``sigma``/``tau``; returns the current ``{"sigma", "tau"}``.

        With ``patches`` (and their ``centers``), or their already computed ``features``
        (:meth:`compute_patch_features`), the heads are weighted by the patch features; without,
        every head weighs 0.25. The first call has no previous loss, so it changes nothing (but
        is recorded). ``smoothness_score`` is recorded for diagnostics only.
        """
        loss = _finite("loss_value", loss_value)
        smoothness = _finite("smoothness_score", smoothness_score)
        if (patches is None) != (centers is None):
            raise ValueError("patches and centers must be given together")
        if features is not None and patches is not None:
            raise ValueError("give patches or their features, not both")
        if features is not None:
            weights = self.compute_attention_weights(*_to_float64("features", features))
        elif patches is None:
            weights = {h: 1.0 / len(HEADS) for h in HEADS}
        else:
            weights = self.compute_attention_weights(*self.compute_patch_features(patches, centers, extent=extent))
        delta = 0.0 if self.previous_loss is None else loss - self.previous_loss
        new = self.weighted_parameter_update({"sigma": self.sigma, "tau": self.tau}, weights, delta)
        self.sigma, self.tau = new["sigma"], new["tau"]
        self.previous_loss = loss
        self._append(self.loss_history, loss)
        self._append(self.smoothness_history, smoothness)
        for h in HEADS:
            self._append(self.attention_weights[h], weights[h])
        return self.params

    @property
    def head_params(self) -> dict[str, dict[str, Any]]:
        """Per head: the current ``sigma``/``tau``, which one it moves (``focus``) and its histories
        (views of :attr:`loss_history` and :attr:`attention_weights`, stored once)."""
        return {
            h: {
                "sigma": self.sigma,
                "tau": self.tau,
                "focus": _FOCUS[h],
                "loss_history": self.loss_history,
                "attention_history": self.attention_weights[h],
            }
            for h in HEADS
        }

    @property
    def params(self) -> dict[str, float]:
        """The current ``{"sigma": ..., "tau": ...}``."""
        return {"sigma": self.sigma, "tau": self.tau}

    # -- checkpointing -------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume, as plain Python types (floats, lists, dicts)."""
        return {
            "version": _STATE_VERSION,
            "config": {
                "sigma_bounds": list(self.sigma_bounds),
                "tau_bounds": list(self.tau_bounds),
                "temperature": self.temperature,
                "sigma_rate": self.sigma_rate,
                "tau_rate": self.tau_rate,
                "max_history": self.max_history,
            },
            "sigma": self.sigma,
            "tau": self.tau,
            "previous_loss": self.previous_loss,
            "loss_history": list(self.loss_history),
            "smoothness_history": list(self.smoothness_history),
            "attention_weights": copy.deepcopy(self.attention_weights),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (configuration included)."""
        if not isinstance(state, Mapping) or state.get("version") not in _READABLE_VERSIONS:
            raise ValueError(f"not a FeatureAttentionController state (version {_STATE_VERSION} expected)")
        try:
            cfg = state["config"]
            fresh = FeatureAttentionController(
                state["sigma"],
                state["tau"],
                sigma_bounds=tuple(cfg["sigma_bounds"]),
                tau_bounds=tuple(cfg["tau_bounds"]),
                temperature=cfg["temperature"],
                sigma_rate=cfg["sigma_rate"],
                tau_rate=cfg["tau_rate"],
                max_history=cfg["max_history"],
            )
            previous = state["previous_loss"]
            fresh.previous_loss = None if previous is None else _finite("previous_loss", previous)
            fresh.loss_history = [float(v) for v in state["loss_history"]]
            fresh.smoothness_history = [float(v) for v in state["smoothness_history"]]
            fresh.attention_weights = {h: [float(v) for v in state["attention_weights"][h]] for h in HEADS}
        except (KeyError, TypeError) as err:
            raise ValueError(f"incomplete FeatureAttentionController state: missing {err}") from None
        self.__dict__.update(fresh.__dict__)

    def _append(self, history: list, value: Any) -> None:
        history.append(value)
        if len(history) > self.max_history:
            del history[: len(history) - self.max_history]


# --------------------------------------------------------------------------- validation


def _finite(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number (got {value!r})") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite (got {value!r})")
    return number


def _check_bounds(name: str, bounds: Sequence[float]) -> tuple[float, float]:
    try:
        low, high = (_finite(name, b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be two finite numbers (low, high) (got {bounds!r})") from None
    if not 0 <= low <= high:
        raise ValueError(f"{name} must satisfy 0 <= low <= high (got {bounds!r})")
    return (low, high)


def _check_inside(name: str, value: Any, bounds: tuple[float, float]) -> float:
    number = _finite(name, value)
    if not bounds[0] <= number <= bounds[1]:
        raise ValueError(f"{name} must be inside its bounds {list(bounds)} (got {value!r})")
    return number


def _check_rate(name: str, value: Any) -> float:
    rate = _finite(name, value)
    if not 0 <= rate < 1:
        raise ValueError(f"{name} must be in [0, 1) (got {value!r})")
    return rate


def _check_temperature(value: Any) -> float:
    t = _finite("temperature", value)
    if t < 0:
        raise ValueError(f"temperature must be >= 0 (got {value!r})")
    return t


def _check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    missing = [h for h in HEADS if h not in weights]
    if missing:
        raise ValueError(f"attention_weights lacks {', '.join(missing)}")
    checked = {h: _finite(f"attention weight {h!r}", weights[h]) for h in HEADS}
    if any(w < 0 for w in checked.values()) or abs(sum(checked.values()) - 1.0) > 1e-6:
        raise ValueError(f"attention weights must be non-negative and sum to 1 (got {checked})")
    return checked


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])
