"""Where the subject of a picture is, so a crop keeps it: faces found with OpenCV, else the centre.

A full-bleed page cuts a photo to the page's shape, often a fifth or more of it. Cutting around
the middle is right for a drawing or a landscape; a child at the edge of a family photo would lose
half a face. OpenCV's Haar frontal-face cascade is fast (tens of milliseconds on a small grey copy)
and ships with opencv-python-headless. It is optional: without it every crop keeps the centre.
"""
from __future__ import annotations

import importlib.util
import logging
import sys
from functools import lru_cache
from typing import Any

from PIL import Image, ImageOps

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]  # left, top, right, bottom as fractions of the picture

DETECT_SIDE = 360  # the long side of the grey copy searched for faces
# Faces smaller than this share of the copy's short side are noise (a pattern in a sweater), or too
# small to matter for the crop.
MIN_FACE = 0.07
CASCADE = "haarcascade_frontalface_default.xml"


def available() -> bool:
    """Whether faces can be looked for here (OpenCV installed), without importing it."""
    if "cv2" in sys.modules:
        return sys.modules["cv2"] is not None
    return importlib.util.find_spec("cv2") is not None


def find_subject(picture: Image.Image) -> Box | None:
    """The union of the faces in `picture` as fractions of its size, or None: no face, or no OpenCV."""
    try:
        import cv2  # imported late: a heavy module, needed only when a crop is made
        import numpy as np
    except ImportError:
        log.info("OpenCV is not installed; crops keep the middle of the picture")
        return None
    cascade = _cascade(cv2)
    if cascade is None:
        return None
    grey = picture.convert("L")
    grey.thumbnail((DETECT_SIDE, DETECT_SIDE), Image.Resampling.BILINEAR)
    grey = ImageOps.equalize(grey)  # dim indoor photos: the cascade wants contrast
    smallest = max(20, round(min(grey.size) * MIN_FACE))
    try:
        faces = cascade.detectMultiScale(np.asarray(grey), scaleFactor=1.1, minNeighbors=5, minSize=(smallest, smallest))
    except cv2.error as error:  # never let face finding cost the book
        log.warning("face detection failed: %s", error)
        return None
    if len(faces) == 0:
        return None
    width, height = grey.size
    left = min(x for x, _, _, _ in faces) / width
    top = min(y for _, y, _, _ in faces) / height
    right = max(x + w for x, _, w, _ in faces) / width
    bottom = max(y + h for _, y, _, h in faces) / height
    return (float(left), float(top), float(right), float(bottom))


def crop_around(keep: tuple[float, float], subject: Box | None) -> Box:
    """A window `keep` (width, height as fractions) placed to keep the subject's centre in the middle.

    The window slides only as far as the picture goes, so a face at the edge ends up near the edge
    of the crop, still in it. Without a subject the window is centred.
    """
    keep_w, keep_h = min(1.0, keep[0]), min(1.0, keep[1])
    if subject is None:
        centre = (0.5, 0.5)
    else:
        centre = ((subject[0] + subject[2]) / 2, (subject[1] + subject[3]) / 2)
    left = _clamp(centre[0] - keep_w / 2, 0.0, 1.0 - keep_w)
    top = _clamp(centre[1] - keep_h / 2, 0.0, 1.0 - keep_h)
    return (left, top, left + keep_w, top + keep_h)


def focus_in(crop: Box, subject: Box | None) -> tuple[float, float]:
    """Where the subject's centre lies inside `crop`, as fractions of the crop (the middle without one)."""
    if subject is None:
        return (0.5, 0.5)
    cx, cy = (subject[0] + subject[2]) / 2, (subject[1] + subject[3]) / 2
    fx = (cx - crop[0]) / max(1e-9, crop[2] - crop[0])
    fy = (cy - crop[1]) / max(1e-9, crop[3] - crop[1])
    return (_clamp(fx, 0.0, 1.0), _clamp(fy, 0.0, 1.0))


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


@lru_cache(maxsize=1)
def _cascade(cv2: Any) -> Any:
    """The cascade, loaded once per process (reading its XML takes longer than a detection)."""
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)
    if cascade.empty():
        log.warning("OpenCV's %s could not be loaded; crops keep the middle of the picture", CASCADE)
        return None
    return cascade
