"""The contract every model kind follows, and the batch/data types the training runner hands it.

A model kind is one file in ``explorer/models/`` defining a config dataclass (defaults = the paper's
setting) and an ``nn.Module`` subclass of ``MultimodalModel``. The runner (``explorer.train``) only
ever calls the methods below, so every kind trains, checkpoints, resumes and evaluates the same way:

- ``__init__(config, spec)``: build layers from the config and the ``DataSpec`` (input sizes);
- ``fit_input_stats(train)``: optional, once before training (input normalisation statistics);
- ``configure_optimizers() -> dict[name, Optimizer]``;
- ``train_step(batch, optimizers) -> dict[str, float]``: one update (for a GAN: one D update and its
  G updates), returning scalar metrics for the log;
- ``embed(image, text) -> dict[str, Tensor]``: ``"joint"`` (B, E), the representation hyperlinking
  ranks by cosine similarity; crossmodal models also return ``"image"`` and ``"text"`` (B, E') in a
  common space, computable from one modality alone. ``embed`` is called in eval mode (BN running
  statistics, no dropout) under ``torch.inference_mode``.
- ``selectable() -> bool`` (optional): False while the model must not be selected as ``best.pt`` yet;
- ``fit_closed_form(data) -> dict`` (optional, ``closed_form = True``): models solved in one shot
  (CCA and friends) do it here instead of epochs of ``train_step``;
- ``generate(text, z) -> images`` (only kinds with ``generative = True``: the GANs): (B, 3, 64, 64)
  in [-1, 1] for (B, text_dim) transcripts and (B, z_dim) noise (``z=None``: drawn).

Class attributes callers read (never probed with ``getattr``/``hasattr``): ``kind``, ``closed_form``,
``wants_pixels``, ``deterministic`` (the result does not depend on the seed: benches fit it once),
``generative``, ``topword_methods``, ``training_only_modules``; and ``uses_labels(config)`` (a classmethod:
whether that configuration trains with the category labels, marked † in the tables).
"""

from __future__ import annotations

import types
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

import torch
from torch import nn


@dataclass
class DataSpec:
    """What a model consumes; stored in the checkpoint so evaluation can rebuild the inputs.

    image_input: ``"pixels64"`` (B, 3, 64, 64) floats in [-1, 1], or ``"features:<name>"`` where name is
                 a visual extractor (``mobilenet``, ``vgg19``, ``pixels``) or ``builtin`` (the
                 collection's own precomputed image features, e.g. Wikipedia SIFT-BoW).
    text_input:  ``"word2vec"`` (averaged skip-gram vectors, stored in the checkpoint) or ``"builtin"``.
    """

    image_input: str
    image_dim: int
    text_input: str
    text_dim: int
    n_classes: int = 0  # categories in the training split (supervised kinds use them)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DataSpec":
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


Batch = dict  # {"image": Tensor (B, ...), "text": Tensor (B, Dt), "label": LongTensor (B,) (-1 = none)}


class MultimodalModel(nn.Module):
    kind: ClassVar[str] = "base"
    closed_form: ClassVar[bool] = False
    #: "pixels64" models need keyframe tensors; others take a feature vector per image.
    wants_pixels: ClassVar[bool] = False
    #: submodules ``embed`` never uses (discriminators, decoders): ``explorer release`` leaves them out
    training_only_modules: ClassVar[tuple[str, ...]] = ()
    #: the trained model does not depend on the seed (a closed-form fit): benches fit it once
    deterministic: ClassVar[bool] = False
    #: the kind has a generator: ``generate(text, z)`` draws images for transcripts
    generative: ClassVar[bool] = False
    #: generative kinds: how they name an image's top words, best first (``explorer.api.top_words``);
    #: empty for kinds without a generator
    topword_methods: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config, spec: DataSpec):
        super().__init__()
        self.config = config
        self.spec = spec

    def selectable(self) -> bool:
        """Whether the model as trained so far may become ``best.pt`` (selection on val). False while a
        kind trained in stages is in an early one (cmdn's stage 1: its shared layers are untrained)."""
        return True

    @classmethod
    def uses_labels(cls, config) -> bool:
        """Whether training with ``config`` reads the category labels (tables mark such kinds †)."""
        return False

    def fit_input_stats(self, train: dict) -> None:
        """Called once by the runner, before the first step of a fresh run, with the whole train split
        ({"image", "text", "label"} tensors; "image" omitted for pixel models). Kinds that normalise
        their inputs store the statistics here as buffers (so checkpoints carry them). Default: no-op."""

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, batch: Batch, optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, float]:
        raise NotImplementedError

    def embed(self, image: torch.Tensor | None, text: torch.Tensor | None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def generate(self, text: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """Images for transcripts (generative kinds only; see ``generative``)."""
        raise NotImplementedError(f"{self.kind} has no generator")

    def fit_closed_form(self, data: dict) -> dict:
        raise NotImplementedError(f"{self.kind} is trained by train_step, not in closed form")


Activation = Literal["relu", "tanh", "sigmoid", "leaky_relu", "linear"]  # keys of _mlp.ACTIVATIONS


class ConfigError(ValueError):
    """A config option has the wrong type, a value outside its choices, or an impossible range."""


# Ranges checked by name, for every kind (one place): counts at least 1, learning rates above 0.
_AT_LEAST_ONE = ("epochs", "batch_size")


def _check(cls_name: str, key: str, value, tp):
    """``value`` checked (and, for numbers and sequences, normalised) against the annotation ``tp``."""
    origin, args = get_origin(tp), get_args(tp)
    where = f"{cls_name}.{key}"
    if tp is Any:
        return value
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} must be one of {', '.join(repr(a) for a in args)}; got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        errors = []
        for option in args:
            try:
                return _check(cls_name, key, value, option)
            except ConfigError as e:
                errors.append(str(e).split("; got")[0].removeprefix(f"{where} must be "))
        raise ConfigError(f"{where} must be {' or '.join(errors)}; got {value!r}")
    if tp is type(None):
        if value is not None:
            raise ConfigError(f"{where} must be None; got {value!r}")
        return None
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false; got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer; got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number; got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string; got {value!r}")
        return value
    container = origin or tp
    if container in (tuple, list):
        if not isinstance(value, (tuple, list)):
            raise ConfigError(f"{where} must be a list; got {value!r}")
        item = args[0] if args else Any
        items = [_check(cls_name, f"{key}[{i}]", v, item) for i, v in enumerate(value)]
        return tuple(items) if container is tuple else items  # checkpoints store tuples as lists
    if container is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be a mapping; got {value!r}")
        return value
    return value


#: options that existed once and were removed: a checkpoint that records one still loads (the value is
#: dropped); asking for one (CLI ``--set``, the Training page) is an error saying why it went
RETIRED_OPTIONS = {
    "norm_samples": "input statistics are now those of the whole train split (fit_input_stats), not of the "
                    "first N training samples",
}


def config_from_dict(config_cls, values: dict, from_checkpoint: bool = False):
    """Rebuild a config dataclass, checking every option in one place: unknown keys, types (a JSON
    string where a number is expected is refused, an integer where a float is expected is taken),
    choices (``Literal`` annotations), and ranges (``epochs``/``batch_size`` >= 1, ``lr*`` > 0).
    Each error names the option and what it may be. ``from_checkpoint``: the values were read from a
    checkpoint, whose ``RETIRED_OPTIONS`` are dropped instead of refused."""
    names = {f.name for f in fields(config_cls)}
    retired = [k for k in values if k in RETIRED_OPTIONS and k not in names]
    if retired and from_checkpoint:
        values = {k: v for k, v in values.items() if k not in retired}
    elif retired:
        raise ConfigError(f"{config_cls.__name__}.{retired[0]} was removed: {RETIRED_OPTIONS[retired[0]]}")
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"unknown {config_cls.__name__} option(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}")
    hints = get_type_hints(config_cls)
    out = {}
    for key, value in values.items():
        value = _check(config_cls.__name__, key, value, hints.get(key, Any))
        if key in _AT_LEAST_ONE and value is not None and value < 1:
            raise ConfigError(f"{config_cls.__name__}.{key} must be at least 1; got {value!r}")
        if key.startswith("lr") and isinstance(value, float) and not value > 0:
            raise ConfigError(f"{config_cls.__name__}.{key} must be above 0; got {value!r}")
        out[key] = value
    return config_cls(**out)
