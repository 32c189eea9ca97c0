"""Each quality metric once, on tiny inputs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
import scipy.linalg
import torch

from lamigo.errors import ConfigError, WeightsError
from lamigo.evaluation.fid import FIDScorer, InceptionFeatures, frechet_distance, image_patches
from lamigo.evaluation.perceptual import (
    LPIPS_BACKBONE_FILE,
    LPIPS_LINEAR_FILE,
    PerceptualDistance,
    load_lpips,
    load_st_lpips,
)
from lamigo.evaluation.quality import psnr, ssim


def _images(count: int, size: int = 48, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    smooth = [np.kron(rng.integers(0, 256, (size // 8, size // 8, 3)), np.ones((8, 8, 1))) for _ in range(count)]
    return [image.astype(np.uint8) for image in smooth]


def _noisy(image: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def test_psnr_and_ssim_rank_noise():
    (image,) = _images(1)
    assert psnr(image, image) == float("inf") and ssim(image, image) == pytest.approx(1.0)
    light, heavy = _noisy(image, 5), _noisy(image, 40)
    assert psnr(image, light) > psnr(image, heavy)
    assert 1.0 > ssim(image, light) > ssim(image, heavy)


def test_st_lpips_is_zero_for_equal_images_and_grows_with_noise():
    metric = load_st_lpips()
    assert metric.label == "ST-LPIPS"
    (image,) = _images(1)
    assert metric.distance(image, image) == pytest.approx(0.0, abs=1e-6)
    assert 0 < metric.distance(image, _noisy(image, 5)) < metric.distance(image, _noisy(image, 40))


def test_standard_lpips_loads_user_files_and_names_a_missing_one(tmp_path):
    reference = PerceptualDistance("LPIPS", shift_tolerant=False)
    state = reference.state_dict()
    # torchvision's layout: features.<layer>.weight, plus the classifier LPIPS does not use.
    backbone = {"features." + ".".join(key.split(".")[2:]): value
                for key, value in state.items() if key.startswith("net.")}
    backbone["classifier.1.weight"] = torch.zeros(4, 4)
    torch.save(backbone, tmp_path / LPIPS_BACKBONE_FILE)
    with pytest.raises(WeightsError, match=LPIPS_LINEAR_FILE):
        load_lpips(tmp_path)
    torch.save({key: value for key, value in state.items() if key.startswith("lin")}, tmp_path / LPIPS_LINEAR_FILE)
    metric = load_lpips(tmp_path)
    (image,) = _images(1)
    assert metric.label == "LPIPS"
    assert metric.distance(image, image) == pytest.approx(0.0, abs=1e-6)
    noisy = _noisy(image, 30)
    with torch.no_grad():
        expected = reference(*(torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255 for x in (image, noisy)))
    assert metric.distance(image, noisy) == pytest.approx(float(expected[0]), rel=1e-5)


def test_image_patches_tile_each_image():
    images = _images(2, size=48)
    patches = image_patches(images, 16)
    assert len(patches) == 18 and patches[0].shape == (16, 16, 3)
    assert np.array_equal(patches[1], images[0][:16, 16:32])
    assert image_patches(images, None) == images
    with pytest.raises(ConfigError):
        image_patches(images, 64)


def test_frechet_distance_matches_the_covariance_formula():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(40, 16))
    fake = rng.normal(0.5, 2.0, size=(30, 16)) @ rng.normal(size=(16, 16))
    first, second = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    offset = real.mean(axis=0) - fake.mean(axis=0)
    expected = offset @ offset + np.trace(first + second - 2 * scipy.linalg.sqrtm(first @ second).real)
    assert frechet_distance(real, fake) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(real, real) == pytest.approx(0.0, abs=1e-9)


def test_fid_with_the_packaged_inception_is_zero_for_the_references_and_grows_with_noise():
    references = _images(2, size=32)
    scorer = FIDScorer(references, InceptionFeatures())
    same, samples = scorer.score(references)
    assert samples == scorer.reference_samples == 2 and abs(same) < 1e-6
    noisy, _ = scorer.score([_noisy(image, 60) for image in references])
    assert noisy > 1.0


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 12), st.integers(2, 12), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_frechet_distance_is_symmetric_and_non_negative(n1, n2, dims, seed):
    rng = np.random.default_rng(seed)
    real, fake = rng.normal(size=(n1, dims)), rng.normal(1.0, 3.0, size=(n2, dims))
    forward, backward = frechet_distance(real, fake), frechet_distance(fake, real)
    assert forward == pytest.approx(backward, rel=1e-9, abs=1e-9)
    assert forward >= -1e-9
