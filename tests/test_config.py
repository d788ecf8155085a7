"""Every kind's config is checked in one place (``models.base.config_from_dict``): types, choices, ranges."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from explorer.models import MODELS
from explorer.models.base import ConfigError, config_from_dict
from explorer.models.cmgan import CMGANConfig
from explorer.models.gan_cls import GanClsConfig


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_default_config_passes_and_round_trips_as_json_types(kind):
    config_cls = MODELS[kind][1]
    d = asdict(config_cls())
    as_json = {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}  # what a checkpoint stores
    assert asdict(config_from_dict(config_cls, as_json)) == d


@pytest.mark.parametrize("values, message", [
    ({"loss": "hnge"}, r"GanClsConfig.loss must be one of 'bce', 'hinge'; got 'hnge'"),
    ({"batch_size": "64"}, r"GanClsConfig.batch_size must be an integer; got '64'"),
    ({"batch_size": 0}, r"GanClsConfig.batch_size must be at least 1"),
    ({"lr": 0}, r"GanClsConfig.lr must be above 0"),
    ({"spectral_norm": 1}, r"GanClsConfig.spectral_norm must be true or false"),
    ({"g_channels": [256, "x"]}, r"GanClsConfig.g_channels\[1\]"),
    ({"lr_d": "fast"}, r"GanClsConfig.lr_d must be a number or None; got 'fast'"),
])
def test_bad_values_are_refused_naming_the_key_and_what_is_allowed(values, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(GanClsConfig, values)


def test_numbers_are_normalised_and_choices_of_other_kinds_checked():
    c = config_from_dict(GanClsConfig, {"lr": 1, "lr_d": None, "g_channels": [64, 32, 16, 8]})
    assert c.lr == 1.0 and isinstance(c.lr, float) and c.lr_d is None and c.g_channels == (64, 32, 16, 8)
    with pytest.raises(ConfigError, match="retrieval_space must be one of 'common', 'semantic'"):
        config_from_dict(CMGANConfig, {"retrieval_space": "posterior"})
    with pytest.raises(ValueError, match="unknown GanClsConfig option"):
        config_from_dict(GanClsConfig, {"learning_rate": 1})


def test_cli_train_refuses_a_misspelt_choice(tiny_collection, capsys):
    from explorer.cli import main

    assert main(["train", "gan_cls", "--collection", str(tiny_collection), "--set", "loss=hnge", "--epochs", "1"]) == 2
    assert "loss must be one of 'bce', 'hinge'; got 'hnge'" in capsys.readouterr().err
