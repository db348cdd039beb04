"""Fixed-template geometry: number the template's faces, crop around one, mask it, put a face
onto it and paste the result back so that the template outside the mask is untouched.

Pure functions on arrays (HxWx3 uint8 RGB images, HxW uint8 masks with 255 inside).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from components.fusion import alpha_blend, face_mask
from components.types import Face

# FaceChain's crop: the face box's longer side is this share of the square's side.
FACE_RATIO = 0.7
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)


class FaceNumberError(ValueError):
    """A face number the template does not have; the message lists what it has."""


def ordered_faces(faces: list[Face]) -> list[Face]:
    """Faces numbered 1.. from left to right: sorted by the left edge of the box (then the top)."""
    return sorted(faces, key=lambda f: (float(f.bbox[0]), float(f.bbox[1])))


def choose_face(faces: list[Face], number: int) -> Face:
    """Face `number` (1-based, left to right) of `ordered_faces`, with a clear error otherwise."""
    if not faces:
        raise FaceNumberError("no face found in the template photo")
    if isinstance(number, bool) or not isinstance(number, (int, np.integer)) or not 1 <= number <= len(faces):
        raise FaceNumberError(f"face {number!r} is not in the template: it has {len(faces)} face(s), "
                              f"numbered 1 to {len(faces)} from left to right")
    return faces[int(number) - 1]


def draw_numbered_faces(image: np.ndarray, faces: list[Face], chosen: tuple[int, ...] = ()) -> np.ndarray:
    """A copy of `image` with each face's box and number (`faces` in `ordered_faces` order); the
    chosen faces' in green and thicker, the others' in grey (what `--face` / `--person` refer to)."""
    out = image.copy()
    unit = max(1, round(max(image.shape[:2]) / 500))
    for number, face in enumerate(faces, start=1):
        x0, y0, x1, y1 = (int(round(float(v))) for v in face.bbox)
        colour, thickness = ((0, 200, 0), 2 * unit) if number in chosen else ((160, 160, 160), unit)
        cv2.rectangle(out, (x0, y0), (x1, y1), colour, thickness)
        cv2.putText(out, str(number), (x0, max(y0 - 3 * unit, 10 * unit)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * unit,
                    colour, thickness, cv2.LINE_AA)
    return out


@dataclass(frozen=True)
class SquareCrop:
    """A square of the template around one face, resized to `size`: template -> crop is
    x' = (x - left) * scale, y' = (y - top) * scale. The square may extend past the photo."""

    left: float
    top: float
    side: float
    size: int

    @property
    def scale(self) -> float:
        return self.size / self.side

    @property
    def matrix(self) -> np.ndarray:
        """(2, 3) affine template -> crop."""
        s = self.scale
        return np.array([[s, 0.0, -self.left * s], [0.0, s, -self.top * s]])

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, float) - [self.left, self.top]) * self.scale

    def to_template(self, points: np.ndarray) -> np.ndarray:
        return np.asarray(points, float) / self.scale + [self.left, self.top]


def square_around(bbox: np.ndarray, size: int, face_ratio: float = FACE_RATIO) -> SquareCrop:
    """Square centred on the face box, side = max(w, h) / face_ratio."""
    if not 0.05 <= face_ratio <= 1.0:
        raise ValueError(f"face_ratio must be in [0.05, 1], got {face_ratio}")
    if size < 8 or size % 8:
        raise ValueError(f"size must be a positive multiple of 8, got {size}")
    x0, y0, x1, y1 = (float(v) for v in bbox)
    side = max(x1 - x0, y1 - y0, 1.0) / face_ratio
    return SquareCrop(left=(x0 + x1) / 2 - side / 2, top=(y0 + y1) / 2 - side / 2, side=side, size=int(size))


def crop_square(image: np.ndarray, crop: SquareCrop) -> np.ndarray:
    """The square as a size x size image; outside the photo the border pixels are repeated."""
    return cv2.warpAffine(image, crop.matrix, (crop.size, crop.size), flags=cv2.INTER_AREA
                          if crop.scale < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def face_region_mask(shape: tuple[int, int], landmarks68: np.ndarray, *, dilate: float = 0.04,
                     dilate_below_eyes: float = 0.1) -> np.ndarray:
    """The face (jaw + lifted brows hull) grown by `dilate`, and below the eye line by
    `dilate_below_eyes` more (FaceChain: cheeks, chin and jaw line are repainted, the hair is
    not); both as shares of sqrt(face area)."""
    lm = np.asarray(landmarks68, float)
    mask = face_mask(shape, lm)
    root = float(np.sqrt(max(np.count_nonzero(mask), 1)))
    mask = _dilate(mask, dilate * root)
    below = _dilate(mask, dilate_below_eyes * root)
    return np.where(below_eye_line(shape, lm), below, mask).astype(np.uint8)


def below_eye_line(shape: tuple[int, int], landmarks68: np.ndarray) -> np.ndarray:
    """Bool mask of the half-plane on the chin's side of the line through both eyes (roll included)."""
    lm = np.asarray(landmarks68, float)
    left, right = lm[LEFT_EYE].mean(axis=0), lm[RIGHT_EYE].mean(axis=0)
    across = right - left
    down = np.array([-across[1], across[0]])
    if np.dot(lm[8] - left, down) < 0:  # orient "down" towards the chin
        down = -down
    ys, xs = np.mgrid[0:shape[0], 0:shape[1]]
    return (xs - left[0]) * down[0] + (ys - left[1]) * down[1] > 0


def similarity_matrix(source_points: np.ndarray, target_points: np.ndarray) -> np.ndarray:
    """(2, 3) least-squares similarity (rotation, uniform scale, shift) mapping source onto target."""
    matrix, _ = cv2.estimateAffinePartial2D(np.asarray(source_points, np.float32),
                                            np.asarray(target_points, np.float32), method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("could not fit a similarity transform between the two faces' landmarks")
    return matrix


def warp_face(source: np.ndarray, source_mask: np.ndarray, matrix: np.ndarray,
              target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`source`'s masked face moved by `matrix` onto `target`: (composite, warped mask)."""
    h, w = target.shape[:2]
    warped = cv2.warpAffine(source, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(source_mask, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    return alpha_blend(warped, target, mask.astype(np.float32) / 255.0), mask


def canny_outside(image: np.ndarray, mask: np.ndarray, low: int = 100, high: int = 200) -> np.ndarray:
    """Canny edges of `image` with the masked region blanked (the canny ControlNet keeps the
    surroundings, the face is left free), as an RGB map."""
    edges = cv2.Canny(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), low, high)
    edges[mask > 0] = 0
    return np.repeat(edges[..., None], 3, axis=2)


def paste_back(template: np.ndarray, result: np.ndarray, original: np.ndarray, crop: SquareCrop,
               mask: np.ndarray, *, erode: float = 6.0, feather: float = 8.0) -> np.ndarray:
    """The change from `original` (the crop as taken, `crop_square`) to `result` added to
    `template` through `mask` (crop frame).

    Adding the change, not the pixels, keeps the template's own full-resolution detail
    wherever the generation changed nothing. The mask is brought to the template's frame,
    eroded by `erode` and blurred by `feather` (crop pixels), then cut to the un-eroded
    mask again: outside the mask the template is returned bit for bit.
    """
    side = (crop.size, crop.size)
    if result.shape[:2] != side or original.shape[:2] != side or mask.shape[:2] != side:
        raise ValueError(f"result, original and mask must be {crop.size}x{crop.size}, "
                         f"got {result.shape}, {original.shape} and {mask.shape}")
    out = template.copy()
    roi = _template_roi(crop, template.shape[:2])
    if roi is None:
        return out
    (ys, xs), back, size = roi
    change = result.astype(np.float32) - original.astype(np.float32)
    change = cv2.warpAffine(change, back, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    hard = cv2.warpAffine(mask, back, size, flags=cv2.INTER_LINEAR, borderValue=0).astype(np.float32) / 255.0
    alpha = (_feathered(hard, erode / crop.scale, feather / crop.scale) * (hard > 0))[..., None]
    blended = np.clip(out[ys, xs] + alpha * change + 0.5, 0, 255).astype(np.uint8)
    out[ys, xs] = np.where(alpha > 0, blended, out[ys, xs])
    return out


def mask_in_template(mask: np.ndarray, crop: SquareCrop, shape: tuple[int, int]) -> np.ndarray:
    """A crop-frame mask in the template's frame (0 outside the square): where paste_back may write."""
    full = np.zeros(shape, np.uint8)
    roi = _template_roi(crop, shape)
    if roi is not None:
        (ys, xs), back, size = roi
        full[ys, xs] = cv2.warpAffine(mask, back, size, flags=cv2.INTER_LINEAR, borderValue=0)
    return full


def _template_roi(crop: SquareCrop, shape: tuple[int, int]):
    """(slices, crop -> ROI affine, ROI size) of the square's part inside the photo; None when outside."""
    h, w = shape
    x0, y0 = max(0, int(np.floor(crop.left))), max(0, int(np.floor(crop.top)))
    x1, y1 = min(w, int(np.ceil(crop.left + crop.side))), min(h, int(np.ceil(crop.top + crop.side)))
    if x1 <= x0 or y1 <= y0:
        return None
    s = crop.scale
    back = np.array([[1 / s, 0.0, crop.left - x0], [0.0, 1 / s, crop.top - y0]])
    return (slice(y0, y1), slice(x0, x1)), back, (x1 - x0, y1 - y0)


def _feathered(alpha: np.ndarray, erode: float, feather: float) -> np.ndarray:
    if erode >= 1:
        k = int(round(erode)) * 2 + 1
        alpha = cv2.erode(alpha, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    if feather > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), feather / 2)
    return alpha


def _dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    k = int(round(radius)) * 2 + 1
    if k <= 1:
        return mask
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
