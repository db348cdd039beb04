import numpy as np
import pytest

from components.diffusion.augment import face_crop


def _image_with_face():
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 90:110] = 200  # a 20 px "face"
    return image, np.array([90.0, 40.0, 110.0, 60.0])


def test_face_takes_the_requested_fraction_of_the_width():
    image, bbox = _image_with_face()
    crop = face_crop(image, bbox, fraction=0.5, flip=False, size=40)  # side 40: no resize
    assert crop.shape == (40, 40, 3)
    columns = np.flatnonzero(crop[20, :, 0] == 200)
    assert len(columns) == 20 and columns[0] == 10


def test_outside_the_photo_is_white_and_flip_mirrors():
    image, bbox = _image_with_face()
    crop = face_crop(image, bbox, fraction=0.1, flip=False, size=200)  # side 200 > photo height 100
    assert (crop[0] == 255).all() and (crop[-1] == 255).all()
    flipped = face_crop(image, bbox, fraction=0.1, flip=True, size=200)
    assert np.array_equal(flipped, crop[:, ::-1])
    assert face_crop(image, bbox, 0.4, False, 64).shape == (64, 64, 3)


@pytest.mark.parametrize("bbox,fraction", [([5, 5, 5, 9], 0.4), ([0, 0, 10, 10], 0.0), ([0, 0, 10, 10], 1.5)])
def test_rejects_bad_arguments(bbox, fraction):
    with pytest.raises(ValueError):
        face_crop(np.zeros((20, 20, 3), np.uint8), np.array(bbox, float), fraction, False, 16)
