"""The shipped gan_proj checkpoint (the default GAN): draws differ across noise, colour words change
the colour, top words come from the crossmodal method and depend on the image."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer import api
from explorer.analysis import colour_share
from explorer.features import visual as V
from explorer.paths import checkpoints_dir, models_root

CKPT = checkpoints_dir() / "gan_proj-flowers102_reed.pt"
_root = models_root()
pytestmark = [
    pytest.mark.skipif(not CKPT.exists(), reason="checkpoints/gan_proj-flowers102_reed.pt not shipped"),
    pytest.mark.skipif(_root is None or not (_root / V.MOBILENET_DIR / V.MOBILENET_FILE).is_file()
                       or V._tflite_interpreter_class() is None,
                       reason="gan_proj's frozen MobileNet (TFLite file + runtime) is not available"),
]


def test_is_the_default_gan_and_released_without_the_training_generator():
    ckpt = torch.load(CKPT, weights_only=True)
    assert ckpt["kind"] == "gan_proj" and "G" in ckpt["inference_only"]
    assert not any(k.startswith("G.") for k in ckpt["model_state"]) and any(k.startswith("G_ema.") for k in ckpt["model_state"])
    assert api.DEFAULT_KIND == "gan_proj"
    assert api.topword_methods(CKPT) == ("crossmodal",)


def test_noise_draws_differ_and_colour_words_are_respected():
    draws = api.generate_images(CKPT, "this flower has bright yellow petals", n=8, seed=0).astype(np.float64)
    pairwise = [np.abs(draws[i] - draws[j]).mean() for i in range(8) for j in range(i + 1, 8)]
    assert min(pairwise) > 2.0  # mean absolute difference in 0..255 units between any two draws
    yellow = api.generate_images(CKPT, "this flower has bright yellow petals", n=16, seed=1)
    purple = api.generate_images(CKPT, "this flower has purple petals", n=16, seed=1)
    assert colour_share(yellow, "yellow") > 2 * colour_share(purple, "yellow")
    assert colour_share(purple, "purple") > 2 * colour_share(yellow, "purple")


@pytest.mark.integration
def test_crossmodal_top_words_depend_on_the_image(shared_data):
    images = sorted((shared_data / "flowers102_reed" / "images").glob("class_*/image_*.jpg"))
    first = api.top_words(CKPT, images[0], k=15)
    last = api.top_words(CKPT, images[-1], k=15)
    assert len(first) == 15 and all(-1 <= s <= 1 for _, s in first)
    assert [w for w, _ in first] != [w for w, _ in last]
    with pytest.raises(ValueError, match="no top-words method 'transposed'"):
        api.top_words(CKPT, images[0], method="transposed")
