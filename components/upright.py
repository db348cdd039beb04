"""The orientation vote and the detection as one pass: the vote's winning detection is the detection."""

from __future__ import annotations

import numpy as np

from components.orientation import rotate
from components.protocols import Detector, Orienter, UprightFinder
from components.types import UprightFaces


def upright_faces(orienter: Orienter, detector: Detector, image: np.ndarray) -> UprightFaces:
    """Orientation and the faces of the upright photo, detected once.

    An orienter that detects while it votes (an `UprightFinder`, the YuNet vote) hands its
    winning detection over; its faces are in the turned photo's coordinates
    without the photo ever being turned. Any other orienter is followed by
    `detector` on the turned photo.
    """
    if isinstance(orienter, UprightFinder):
        return orienter.find(image)
    orientation = orienter.orient(image)
    return UprightFaces(orientation=orientation, faces=detector.detect(rotate(image, orientation.rotation)))
