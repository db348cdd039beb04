"""A small line chart as PNG (loss curves in reports), drawn with OpenCV: no plotting package needed."""

from __future__ import annotations

import cv2
import numpy as np


def line_chart_png(values: list[float], *, title: str, width: int = 640, height: int = 320,
                   smooth: int = 10) -> bytes:
    """Raw values in light grey, a moving average in blue, min/max on the y axis."""
    canvas = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 60, 15, 30, 30
    cv2.putText(canvas, title, (left, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.rectangle(canvas, (left, top), (width - right, height - bottom), (0, 0, 0), 1)
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    if data.size:
        low, high = float(data.min()), float(data.max())
        span = high - low or 1.0

        def points(series: np.ndarray) -> np.ndarray:
            xs = left + np.linspace(0, width - right - left, max(len(series), 2))[: len(series)]
            ys = height - bottom - (series - low) / span * (height - top - bottom)
            return np.stack([xs, ys], axis=1).round().astype(np.int32)

        cv2.polylines(canvas, [points(data)], False, (200, 200, 200), 1, cv2.LINE_AA)
        window = max(1, min(smooth, data.size))
        average = np.convolve(data, np.ones(window) / window, mode="valid")
        cv2.polylines(canvas, [points(average)], False, (200, 80, 0), 2, cv2.LINE_AA)
        for value, y in ((high, top + 10), (low, height - bottom)):
            cv2.putText(canvas, f"{value:.4f}", (2, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(canvas, f"{data.size} steps", (width - right - 80, height - 10), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4, (0, 0, 0), 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", canvas[:, :, ::-1])
    return png.tobytes()
