"""Image preprocessing for `predict`: pictures of digits made to look like MNIST."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mnist_nets.data import load_mnist
from mnist_nets.images import ImageError, load_digit, load_image, preprocess


@pytest.fixture(scope="module")
def digits():
    images, _ = load_mnist("test", 200)
    return images.astype(np.float32) / 255


def centre_of_mass(x):
    ii, jj = np.indices(x.shape)
    return (x * ii).sum() / x.sum(), (x * jj).sum() / x.sum()


def box_side(x, ink=0.2):
    rows, cols = np.flatnonzero((x > ink).any(1)), np.flatnonzero((x > ink).any(0))
    return max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)


def test_mnist_images_come_back_unchanged(digits):
    out = np.stack([preprocess(x) for x in digits])
    assert out.shape == digits.shape and out.dtype == np.float32
    # MNIST's brightest ink is 254 or 255 of 255: stretching it to 1 is the only change
    assert np.abs(out - digits).max() <= 1 / 255 + 1e-6


def test_a_light_background_is_inverted(digits):
    for x in digits[:20]:
        np.testing.assert_allclose(preprocess(1.0 - x), preprocess(x), atol=1e-6)


@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_a_digit_is_scaled_to_20_pixels_and_centred(digits, scale):
    for x in digits[:10]:
        size = round(28 * scale)
        big = np.asarray(Image.fromarray(x).resize((size, size), Image.BICUBIC)).clip(0, 1)
        canvas = np.full((size + 60, size + 100), 0.9, np.float32)  # grey paper
        canvas[10 : 10 + size, 70 : 70 + size] = 0.9 - 0.8 * big  # dark pencil, off centre
        out = preprocess(canvas)
        assert out.shape == (28, 28) and out.min() >= 0 and out.max() == pytest.approx(1, abs=0.02)
        assert abs(box_side(out) - 20) <= 1
        ci, cj = centre_of_mass(out)
        assert abs(ci - 14) <= 0.5 and abs(cj - 14) <= 0.5
        # it is the same digit: close to the original, pixel for pixel, once both centres of
        # mass are rounded to whole pixels (as MNIST's were)
        shifted = [np.roll(out, (a, b), (0, 1)) for a in (-1, 0, 1) for b in (-1, 0, 1)]
        assert max(np.corrcoef(s.ravel(), x.ravel())[0, 1] for s in shifted) > 0.8


def test_files_png_jpeg_rgba_and_16_bit(digits, tmp_path):
    x = digits[0]
    u8 = (x * 255).round().astype(np.uint8)
    Image.fromarray(u8).save(tmp_path / "plain.png")
    Image.fromarray(255 - u8).convert("RGB").save(tmp_path / "paper.jpg", quality=95)
    rgba = np.zeros((28, 28, 4), np.uint8)
    rgba[..., 3] = u8  # black ink on a transparent canvas
    Image.fromarray(rgba, "RGBA").save(tmp_path / "transparent.png")
    Image.fromarray((x * 65535).astype(np.uint16)).save(tmp_path / "deep.png")
    np.testing.assert_allclose(load_digit(tmp_path / "plain.png")[..., 0], x, atol=1 / 255 + 1e-6)
    assert load_digit(tmp_path / "plain.png").shape == (28, 28, 1)
    for name in ("paper.jpg", "transparent.png", "deep.png"):
        out = load_digit(tmp_path / name)[..., 0]
        assert np.abs(out - x).mean() < 0.03, name
    assert load_image(tmp_path / "deep.png").max() == pytest.approx(x.max(), abs=1e-3)


def test_a_16_bit_image_in_the_8_bit_range_reads_on_the_8_bit_scale(tmp_path):
    """A 16-bit grayscale file whose brightest pixel is at most 255 holds 8-bit values (as
    tools write an 8-bit image into a 16-bit container): it is read on the 8-bit scale, up
    to the boundary itself; one level brighter and it is a 16-bit image."""
    ramp = np.arange(256, dtype=np.uint16).reshape(16, 16)
    Image.fromarray(ramp).save(tmp_path / "wide.png")
    x = load_image(tmp_path / "wide.png")
    assert x.max() == 1.0 and x.dtype == np.float32
    np.testing.assert_allclose(x.ravel(), np.arange(256) / 255.0, rtol=1e-6)
    Image.fromarray(ramp + 1).save(tmp_path / "deep.png")
    assert load_image(tmp_path / "deep.png").max() == pytest.approx(256 / 65535)


def test_bad_images_are_clear_errors(tmp_path):
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageError, match=r"text.png: not an image"):
        load_digit(tmp_path / "text.png")
    with pytest.raises(ImageError, match="no such image file"):
        load_digit(tmp_path / "absent.png")
    Image.new("L", (40, 30), 200).save(tmp_path / "blank.png")
    with pytest.raises(ImageError, match="no digit found"):
        load_digit(tmp_path / "blank.png")
