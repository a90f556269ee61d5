"""Representative data from image folders, tf.data and numpy arrays, and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from mhzoo.export.representative import (
    find_images,
    load_image,
    representative_array,
    representative_fn,
)


def test_folder_of_jpeg_and_png(calib_dir):
    files = find_images(calib_dir)
    assert len(files) == 6 and {p.suffix for p in files} == {".jpg", ".png"}
    x = representative_array(calib_dir, (96, 128, 3), steps=10)
    assert x.shape == (6, 96, 128, 3) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 255.0 and x.std() > 10  # real image content


def test_png_decodes_exactly(tmp_path, photos, image_writer):
    img = photos[0][:64, :64]
    p = image_writer(tmp_path / "a.png", img)
    np.testing.assert_array_equal(load_image(p, 64, 64), img.astype(np.float32))


def test_steps_limit_and_sources(calib_images):
    import tensorflow as tf

    x = representative_array(calib_images, (64, 64, 3), steps=4)
    assert x.shape == (4, 64, 64, 3)
    arr = np.stack([np.asarray(tf.image.resize(i, (32, 32))) for i in calib_images])
    ds = tf.data.Dataset.from_tensor_slices((arr, np.arange(len(arr)))).batch(2)
    y = representative_array(ds, (32, 32, 3), steps=5)
    np.testing.assert_allclose(y, arr[:5], atol=1e-4)
    z = representative_array(arr, (32, 32, 3), steps=100)
    assert z.shape == arr.shape


def test_anchor_pixels_fix_the_input_range(calib_images):
    x = representative_array(calib_images[:2], (32, 32, 3), steps=2)
    samples = [s[0] for s in representative_fn(x)()]
    assert samples[0].min() == 0.0 and samples[0].max() == 255.0
    np.testing.assert_array_equal(samples[1], x[1:2])


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="is empty"):
        representative_array(tmp_path, (32, 32, 3), steps=4)


def test_non_image_file_named(tmp_path, photos, image_writer):
    image_writer(tmp_path / "ok.jpg", photos[0])
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match=r"notes\.txt is not a JPEG or PNG image"):
        representative_array(tmp_path, (32, 32, 3), steps=4)


def test_fake_extension_is_caught(tmp_path):
    (tmp_path / "photo.jpg").write_bytes(b"GIF89a....")
    with pytest.raises(ValueError, match=r"photo\.jpg is not a JPEG or PNG"):
        find_images(tmp_path)


def test_wrong_channel_count():
    with pytest.raises(ValueError, match="4 channels but the model takes 3"):
        representative_array(np.zeros((2, 32, 32, 4), np.uint8), (32, 32, 3), steps=2)


def test_out_of_range_values():
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        representative_array(np.full((1, 32, 32, 3), -1.0), (32, 32, 3), steps=1)


def test_bad_steps_and_types(calib_images):
    with pytest.raises(ValueError, match="calibration_steps"):
        representative_array(calib_images, (32, 32, 3), steps=0)
    with pytest.raises(ValueError, match="representative_data must be"):
        representative_array(42, (32, 32, 3), steps=1)
    with pytest.raises(ValueError, match="empty"):
        representative_array([], (32, 32, 3), steps=1)
