"""The shipped GAN-CLS checkpoint: self-describing, small, generates colour from words, beats single modalities."""

from __future__ import annotations

import pytest
import torch

from explorer import api
from explorer.analysis import hue_distance, hue_share, mean_hue
from explorer.data.text import OutOfVocabularyError
from explorer.paths import checkpoints_dir

CKPT = checkpoints_dir() / "gan_cls-flowers102_reed.pt"
pytestmark = pytest.mark.skipif(not CKPT.exists(), reason="checkpoints/gan_cls-flowers102_reed.pt not shipped yet")

YELLOW, PURPLE = 55.0, 285.0  # hue in degrees


def test_checkpoint_is_self_describing_and_small():
    ckpt = torch.load(CKPT, weights_only=True)
    assert ckpt["kind"] == "gan_cls" and ckpt["collection"]["name"] == "flowers102_reed"
    assert {"config", "data_spec", "versions", "metrics", "text", "model_state", "train_seconds", "hardware"} <= set(ckpt)
    assert "optimizer_state" not in ckpt
    assert CKPT.stat().st_size < 25 * 1024 * 1024
    assert len(ckpt["text"]["vocab"]) == ckpt["text"]["vectors"].shape[0]


def test_colour_words_change_the_generated_hue():
    yellow = api.generate_images(CKPT, "this flower has bright yellow petals", n=32, seed=0)
    purple = api.generate_images(CKPT, "this flower is deep purple", n=32, seed=0)
    # share of coloured pixels in the yellow (35-75 deg) and purple (250-330 deg) hue ranges
    assert hue_share(yellow, 35, 75) > 2 * hue_share(purple, 35, 75)
    assert hue_share(purple, 250, 330) > 2 * hue_share(yellow, 250, 330)
    assert hue_distance(mean_hue(yellow)[0], YELLOW) < 30


def test_hue_measures_on_known_colours():
    import numpy as np

    img = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    img[..., 0], img[..., 1] = 230, 200  # yellow ~ 52 deg
    assert hue_distance(mean_hue(img)[0], 52) < 3
    assert hue_share(img, 35, 75) == 1.0 and hue_share(img, 250, 330) == 0.0
    assert hue_share(np.full((1, 4, 4, 3), 128, dtype=np.uint8), 0, 360) == 0.0  # grey has no hue


def test_generation_is_seeded_and_oov_text_is_refused():
    a = api.generate_images(CKPT, "pink petals", n=4, seed=3)
    b = api.generate_images(CKPT, "pink petals", n=4, seed=3)
    assert a.shape == (4, 64, 64, 3) and (a == b).all()
    with pytest.raises(OutOfVocabularyError, match="xyzzy"):
        api.generate_images(CKPT, "xyzzy qwertz", n=2)


@pytest.mark.integration
def test_top_words_of_a_real_image(shared_data):
    image = next((shared_data / "flowers102_reed" / "images").glob("class_*/image_*.jpg"))
    for method in ("transposed", "optimise"):
        words = api.top_words(CKPT, image, k=15, method=method)
        assert len(words) == 15 and all(-1 <= s <= 1 for _, s in words)
