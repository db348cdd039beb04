"""Head (face + hair) segmentation: a landmark prior refined by GrabCut.

The 68 landmarks say where the face is, not where the hair ends, so they only
seed GrabCut: the face hull is sure head, an enlarged region around and above
it is "probably head", the rest "probably background", and the crop border,
the white padding and everything far from the face is sure background.
GrabCut then follows the real colour boundary. It runs on a small copy (its
cost grows with the pixel count) and the mask is brought back to full size
with a guided filter, which snaps the blocky upsampled edge to image edges.
"""

from __future__ import annotations

import cv2
import numpy as np

from components.types import Segmentation

# Prior geometry in units of the jaw width, in a frame whose origin is the
# midpoint of the eyes and whose y axis points from the eyes to the chin.
HEAD_AXES = (0.66, 0.88)  # "probably head" ellipse (half-width, half-height)
HEAD_CENTRE_Y = 0.02
FOREHEAD_BAND = 0.25  # above the brows this far is forehead/hair for sure
NECK_KEEP = 0.25  # below the chin more than this is background (clothes)
FAR_SCALE = 1.3  # outside the head ellipse scaled by this is background


class GrabCutHeadSegmenter:
    """Head mask (255 = head) and the image with its background set to white.

    Options: `work_size` (side in px GrabCut runs at, 64..512, default 160),
    `iterations` (GrabCut iterations, 1..20, default 3), `feather` (edge
    softness in px of the full-size mask, 0 = hard 0/255 edge, default 1.5).
    """

    def __init__(self, work_size: int = 160, iterations: int = 3, feather: float = 1.5):
        if not isinstance(work_size, (int, np.integer)) or not 64 <= work_size <= 512:
            raise ValueError(f"work_size must be an int in [64, 512], got {work_size!r}")
        if not isinstance(iterations, (int, np.integer)) or not 1 <= iterations <= 20:
            raise ValueError(f"iterations must be an int in [1, 20], got {iterations!r}")
        if not isinstance(feather, (int, float, np.number)) or not 0 <= float(feather) <= 32:
            raise ValueError(f"feather must be a number in [0, 32] px, got {feather!r}")
        self.work_size = int(work_size)
        self.iterations = int(iterations)
        self.feather = float(feather)

    def segment(self, image: np.ndarray, landmarks68: np.ndarray) -> Segmentation:
        _check_inputs(image, landmarks68)
        landmarks68 = np.asarray(landmarks68, dtype=np.float64)
        h, w = image.shape[:2]
        scale = self.work_size / max(h, w)
        small_size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
        prior = landmark_prior(small, landmarks68 * scale)

        gc_mask = prior.copy()
        is_fg = np.isin(prior, (cv2.GC_FGD, cv2.GC_PR_FGD))
        if is_fg.any() and not is_fg.all():  # GrabCut needs samples of both
            bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
            # GrabCut seeds its colour models by k-means on OpenCV's per-thread RNG: reseed so a
            # mask does not depend on what this thread segmented before (0 = a fresh thread's state).
            cv2.setRNGSeed(0)
            cv2.grabCut(small, gc_mask, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
        head_small = np.isin(gc_mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)

        # Bilinear upsampling gives a soft edge; the guided filter moves it onto
        # the image's own edges before thresholding.
        head = cv2.resize(head_small, (w, h), interpolation=cv2.INTER_LINEAR)
        radius = max(2, round(1.5 / scale))
        head = guided_filter(_gray01(image), head, radius, eps=1e-3) > 0.5

        # Landmarks of a face cut by the photo edge can lie in the padding: the
        # hull is head only where there is photo.
        hull = face_hull_mask((h, w), landmarks68)
        padding = padding_mask(image)
        head = keep_face_component((head | hull) & ~padding, hull & ~padding)
        mask = head.astype(np.uint8) * 255
        if self.feather > 0:
            mask = cv2.GaussianBlur(mask, (0, 0), self.feather)
        return Segmentation(mask=mask, image=composite_on_white(image, mask))


def landmark_prior(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """GrabCut label mask (GC_BGD/FGD/PR_BGD/PR_FGD) built from the landmarks."""
    h, w = image.shape[:2]
    eyes = (lm[36:42].mean(0) + lm[42:48].mean(0)) / 2
    jaw_w = float(np.linalg.norm(lm[16] - lm[0]))
    across = lm[45] - lm[36]
    across = across / (np.linalg.norm(across) + 1e-9)
    down = np.array([-across[1], across[0]])  # eyes -> chin for an upright face
    angle = float(np.degrees(np.arctan2(across[1], across[0])))

    prior = np.full((h, w), cv2.GC_BGD, np.uint8)
    centre = eyes + down * HEAD_CENTRE_Y * jaw_w
    far_axes = [a * jaw_w * FAR_SCALE for a in HEAD_AXES]
    _ellipse(prior, centre, far_axes, angle, cv2.GC_PR_BGD)
    _ellipse(prior, centre, [a * jaw_w for a in HEAD_AXES], angle, cv2.GC_PR_FGD)

    # Clothes/shoulders: well below the chin is background whatever its colour.
    ys, xs = np.mgrid[0:h, 0:w]
    depth = (xs - lm[8][0]) * down[0] + (ys - lm[8][1]) * down[1]
    prior[depth > NECK_KEEP * jaw_w] = cv2.GC_BGD

    # The crop's white padding (exact 255 touching the border) lies outside the photo.
    prior[padding_mask(image)] = cv2.GC_BGD
    border = max(1, round(0.01 * max(h, w)))
    prior[:border], prior[-border:], prior[:, :border], prior[:, -border:] = (cv2.GC_BGD,) * 4

    # Face hull plus a band above the brows: certainly head.
    brows_up = lm[17:27] - down * FOREHEAD_BAND * jaw_w
    sure = np.concatenate([lm[0:27], brows_up]).astype(np.int32)
    cv2.fillConvexPoly(prior, cv2.convexHull(sure), cv2.GC_FGD)
    return prior


def face_hull_mask(shape: tuple[int, int], lm: np.ndarray) -> np.ndarray:
    """Convex hull of jaw and brows as a boolean mask."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(lm[0:27]).astype(np.int32)), 1)
    return mask.astype(bool)


def keep_face_component(mask: np.ndarray, face: np.ndarray) -> np.ndarray:
    """The connected component overlapping the face most, with its holes filled."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask
    overlap = np.bincount(labels[face], minlength=n)
    overlap[0] = 0
    if overlap.max() == 0:  # face entirely off the photo: fall back to the largest piece
        overlap = np.bincount(labels.ravel(), minlength=n)
        overlap[0] = 0
    best = (labels == int(overlap.argmax())).astype(np.uint8)
    # Holes (e.g. a specular highlight GrabCut called background) are filled.
    contours, _ = cv2.findContours(best, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(best, contours, -1, 1, thickness=cv2.FILLED)
    return best.astype(bool)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s grey-guide guided filter (box filters only, O(pixels))."""
    k = (2 * radius + 1, 2 * radius + 1)
    box = lambda a: cv2.boxFilter(a, cv2.CV_32F, k)  # noqa: E731
    mean_i, mean_p = box(guide), box(src)
    var_i = box(guide * guide) - mean_i * mean_i
    cov_ip = box(guide * src) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def composite_on_white(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Alpha-blend the image over white with `mask` (0..255) as alpha."""
    alpha = mask.astype(np.uint16)[..., None]
    # Integer blend (x*a + 255*(255-a)) / 255, rounded: exact at a = 0 and 255.
    out = (image.astype(np.uint16) * alpha + 255 * (255 - alpha) + 127) // 255
    return out.astype(np.uint8)


def padding_mask(image: np.ndarray) -> np.ndarray:
    """Near-white regions touching the image border (the crop's padding)."""
    white = np.all(image >= 250, axis=2).astype(np.uint8)
    n, labels = cv2.connectedComponents(white, connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge != 0]
    return np.isin(labels, edge)


def _ellipse(canvas: np.ndarray, centre, axes, angle: float, value: int) -> None:
    cv2.ellipse(
        canvas,
        (int(round(centre[0])), int(round(centre[1]))),
        (max(1, int(round(axes[0]))), max(1, int(round(axes[1])))),
        angle, 0, 360, int(value), thickness=-1,
    )


def _gray01(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0


def _check_inputs(image: np.ndarray, landmarks68: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be HxWx3 uint8, got {image.shape} {image.dtype}")
    if np.shape(landmarks68) != (68, 2):
        raise ValueError(f"landmarks68 must have shape (68, 2), got {np.shape(landmarks68)}")
