"""The picture-book styles drawn with OpenCV on the CPU: the `filter` illustrator's drawing, and the form's previews.

No model and no network: what a server without a GPU or an API key can still draw. Each style is
a stylisation, not a tint:

- watercolor (수채화): the photo smoothed with an edge-preserving filter and its colours reduced to
  a few washes (k-means in Lab), laid as pigment on white paper: lighter, blotchy where the
  pigment pooled, darker at the edges of each wash, bled a little across its borders, with the
  paper's grain showing through;
- pencil (색연필): coloured-pencil strokes laid lightly over white paper in diagonal hatching
  (crossed in the shadows), the paper's tooth left white between them, and graphite outlines;
- cartoon (만화): flat colours (smoothed repeatedly, then each patch of a few k-means colour
  classes in Lab filled with its own mean), raised saturation, and bold dark ink outlines.

The heavy smoothing runs on a copy reduced to WORK_SIDE; strokes, grain and outlines are drawn
at the size of the page, their widths in proportion to it (the pipeline hands pictures of
about 1600 px on the long side, print size on A5: under a second a page on two cores). The
textures come from the page's seed, so a page drawn again with the same seed is the same
picture. Pages are drawn one at a time: memory stays that of one page.
"""
from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image


WORK_SIDE = 800  # the long side of the reduced copy that is smoothed and reduced to a few colours
PRINT_SIDE = 1600  # the long side the stroke widths and grain sizes are chosen for
MIN_SIDE = 32  # narrower pictures are drawn enlarged to this (the filters need some room)
PAPER = np.array([0.985, 0.975, 0.95], np.float32)  # warm white drawing paper, RGB in 0..1


def draw_page(picture: Image.Image, style_id: str, seed: int) -> Image.Image:
    """`picture` drawn in the style `style_id`, the same size, its textures from `seed`."""
    drawer = _STYLES.get(style_id)
    if drawer is None:
        raise ValueError(f"the filter cannot draw the style '{style_id}'")
    rgb = picture.convert("RGB")
    if min(rgb.size) < MIN_SIDE:  # a sliver of a photo: drawn enlarged, then brought back to its size
        factor = MIN_SIDE / min(rgb.size)
        enlarged = rgb.resize((round(rgb.width * factor), round(rgb.height * factor)), Image.Resampling.BICUBIC)
        return draw_page(enlarged, style_id, seed).resize(rgb.size, Image.Resampling.LANCZOS)
    rng = np.random.default_rng(np.random.SeedSequence([seed & 0xFFFFFFFFFFFFFFFF, _STYLE_SALT[style_id]]))
    return Image.fromarray(drawer(np.asarray(rgb), rng), "RGB")


# ---------------------------------------------------------------------------------------------
# Shared pieces


def _reduced(rgb: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    height, width = rgb.shape[:2]
    factor = side / max(height, width)
    if factor >= 1:
        return rgb.copy()
    return cv2.resize(rgb, (max(1, round(width * factor)), max(1, round(height * factor))), interpolation=cv2.INTER_AREA)


def _resized(array: np.ndarray, shape: tuple[int, int], interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    height, width = shape
    if array.shape[:2] == (height, width):
        return array
    return cv2.resize(array, (width, height), interpolation=interpolation)


def _unit(shape: tuple[int, int]) -> float:
    """How many pixels of this picture one pixel of a PRINT_SIDE picture spans (at least 0.25)."""
    return max(0.25, max(shape) / PRINT_SIDE)


def _noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Smooth random field of the given shape, features about `cell` pixels wide, scaled to -1..1."""
    height, width = shape
    small = (max(2, round(height / cell) + 2), max(2, round(width / cell) + 2))
    field = rng.standard_normal(small, dtype=np.float32)
    field = cv2.resize(field, (width, height), interpolation=cv2.INTER_CUBIC)
    peak = float(np.abs(field).max()) or 1.0
    return field / peak


def _paper_grain(rng: np.random.Generator, shape: tuple[int, int], unit: float) -> np.ndarray:
    """The paper's tooth: fine blurred noise plus a faint fibre-sized mottle, roughly 0..1."""
    fine = rng.standard_normal(shape, dtype=np.float32)
    fine = cv2.GaussianBlur(fine, (0, 0), 0.8 * unit)
    fine *= 1.0 / (float(fine.std()) or 1.0)
    mottle = _noise(rng, shape, 6 * unit)
    grain = 0.5 + 0.17 * fine + 0.15 * mottle
    return np.clip(grain, 0.0, 1.0)


def _kmeans_labels(lab: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 8) -> np.ndarray:
    """Each pixel of `lab` (float32, H x W x 3) labelled with the nearest of k colours found by k-means.

    Hue counts for more than lightness (a and b weighed double), so a yellow shirt on green grass
    keeps a colour of its own even when the two are equally light. The centres are fitted on a
    sample of the pixels, then every pixel is labelled.
    """
    weights = np.array([1.0, 2.0, 2.0], np.float32)
    pixels = lab.reshape(-1, 3) * weights
    sample = pixels[rng.choice(len(pixels), size=min(len(pixels), 6000), replace=False)]
    # k-means++ start: spread the first centres over the colours present.
    centres = [sample[rng.integers(len(sample))]]
    nearest = np.full(len(sample), np.inf)
    for _ in range(1, k):
        nearest = np.minimum(nearest, ((sample - centres[-1]) ** 2).sum(1, dtype=np.float64))
        total = float(nearest.sum())
        if total <= 0:  # fewer colours than k (a blank page): fewer classes
            break
        centres.append(sample[rng.choice(len(sample), p=nearest / total)])
    centre_array = np.array(centres, np.float32)
    for _ in range(iterations):
        labels = _nearest_centre(sample, centre_array)
        for index in range(len(centre_array)):
            members = sample[labels == index]
            if len(members):
                centre_array[index] = members.mean(0)
    labels = _nearest_centre(pixels, centre_array).reshape(lab.shape[:2])
    # Each pixel takes the class most of its neighbourhood has: smooth borders, no specks of noise.
    votes = np.stack([cv2.boxFilter((labels == index).astype(np.float32), -1, (5, 5))
                      for index in range(len(centre_array))])
    return votes.argmax(0).astype(np.uint8)


def _flat_regions(lab: np.ndarray, k: int, rng: np.random.Generator, walls: np.ndarray | None = None) -> np.ndarray:
    """`lab` (float32 Lab) painted flat: each connected patch of a k-means colour class
    filled with its own mean colour.

    The mean of each patch rather than of its class keeps local colour (a face stays skin-coloured
    even when its class also holds the beige wall behind). `walls` (non-zero on lines, such as
    the outlines to be inked over them) split patches further: hair and forehead of one class
    but on either side of an outline get colours of their own.
    """
    classes = _kmeans_labels(lab, k, rng)
    patches = np.zeros(classes.shape, np.int32)
    next_id = 1  # patch 0: the walls, painted with their class's mean
    for index in range(k):
        mask = classes == index
        if walls is not None:
            mask &= walls == 0
        mask = mask.astype(np.uint8)
        count, component = cv2.connectedComponents(mask, connectivity=4)
        if count > 1:
            inside = component > 0
            patches[inside] = component[inside] + next_id - 1
            next_id += count - 1
    flat_ids = patches.ravel()
    sizes = np.bincount(flat_ids, minlength=next_id).astype(np.float32)
    sizes[sizes == 0] = 1.0
    means = np.stack([np.bincount(flat_ids, weights=lab[..., c].ravel(), minlength=next_id) / sizes for c in range(3)], 1)
    flat = means[patches].astype(np.float32)
    if walls is not None:
        on_walls = patches == 0
        class_ids = classes.ravel().astype(np.int64)
        class_sizes = np.maximum(np.bincount(class_ids, minlength=k), 1)
        class_means = np.stack([np.bincount(class_ids, weights=lab[..., c].ravel(), minlength=k) / class_sizes
                                for c in range(3)], 1).astype(np.float32)
        flat[on_walls] = class_means[classes[on_walls]]
    return flat


def _nearest_centre(pixels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for each pixel: argmax of p.c - |c|^2 / 2, one matrix product."""
    scores = pixels @ centres.T
    scores -= 0.5 * (centres * centres).sum(1)
    return scores.argmax(1).astype(np.int32)


def _lab(rgb_float: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb_float, cv2.COLOR_RGB2LAB)


def _rgb(lab: np.ndarray) -> np.ndarray:
    return np.clip(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB), 0.0, 1.0)


def _saturated(rgb_float: np.ndarray, factor: float, lift: float = 0.0) -> np.ndarray:
    hsv = cv2.cvtColor(rgb_float, cv2.COLOR_RGB2HSV)
    hsv[..., 1] = np.clip(hsv[..., 1] * factor, 0.0, 1.0)
    if lift:
        hsv[..., 2] = np.clip(hsv[..., 2] * (1 - lift) + lift, 0.0, 1.0)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _to_uint8(rgb_float: np.ndarray) -> np.ndarray:
    return cv2.convertScaleAbs(rgb_float, alpha=255.0)  # rounded and saturated (values are never below 0)


def _colour_steps(flat_lab: np.ndarray) -> np.ndarray:
    """How much the colour changes to the next pixel right or down (sum of |dL|, |da|, |db|), float32."""
    step = np.zeros(flat_lab.shape[:2], np.float32)
    step[:, 1:] = np.abs(flat_lab[:, 1:] - flat_lab[:, :-1]).sum(2)
    step[1:, :] = np.maximum(step[1:, :], np.abs(flat_lab[1:, :] - flat_lab[:-1, :]).sum(2))
    return step


def _line_kernel(length: int, angle_degrees: float) -> np.ndarray:
    """A normalised straight-line kernel: smearing noise along it makes pencil strokes."""
    length = max(3, length | 1)
    kernel = np.zeros((length, length), np.float32)
    centre = length // 2
    theta = np.deg2rad(angle_degrees)
    dx, dy = np.cos(theta), -np.sin(theta)
    for step in np.linspace(-centre, centre, 2 * length):
        x, y = int(round(centre + step * dx)), int(round(centre + step * dy))
        kernel[y, x] = 1.0
    return kernel / kernel.sum()


def _strokes(rng: np.random.Generator, shape: tuple[int, int], unit: float, angle: float) -> np.ndarray:
    """Parallel pencil strokes at `angle`, 0..1 (1 where the pencil pressed), drawn at half size."""
    height, width = shape
    half = (max(2, height // 2), max(2, width // 2))
    noise = rng.random(half, dtype=np.float32)
    smeared = cv2.filter2D(noise, -1, _line_kernel(round(14 * unit), angle), borderType=cv2.BORDER_REFLECT)
    smeared -= float(smeared.mean())
    smeared *= 1.0 / (3.0 * (float(smeared.std()) or 1.0))
    strokes = np.clip(smeared + 0.5, 0.0, 1.0)
    return cv2.resize(strokes, (width, height), interpolation=cv2.INTER_LINEAR)


# ---------------------------------------------------------------------------------------------
# The styles


def _watercolor(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shape = rgb.shape[:2]
    unit = _unit(shape)
    small = _reduced(rgb)
    small_unit = _unit(small.shape[:2])
    smooth = cv2.edgePreservingFilter(small, flags=cv2.RECURS_FILTER, sigma_s=60 * small_unit, sigma_r=0.4)
    smooth = cv2.bilateralFilter(smooth, 7, 30, 5)
    smooth_float = smooth.astype(np.float32) / 255.0
    lab = _lab(smooth_float)
    # The patches are found at half this size: their borders bleed by more than that anyway.
    half_lab = _lab(_reduced(smooth_float, WORK_SIDE // 2))
    half_flat = _flat_regions(half_lab, 14, rng)
    flat_lab = _resized(half_flat, lab.shape[:2])
    # Washes: mostly the flat patches, some of the smooth shading left under them.
    wash = _saturated(_rgb(0.6 * flat_lab + 0.4 * lab), 1.1)
    # Pigment pools at the edges of each wash as it dries: darker borders between unlike colours.
    edges = np.clip((_colour_steps(half_flat) - 8.0) / 25.0, 0.0, 1.0)
    edges = _resized(cv2.GaussianBlur(edges, (0, 0), 1.2 * small_unit), lab.shape[:2])
    edges = np.clip(edges * 1.3, 0.0, 1.0)
    density = 1.0 - wash  # how much pigment each channel needs, 0..1
    density *= 0.82
    density /= 1.0 + 0.45 * density  # a lighter palette: thin washes, no solid darks
    density *= (1.0 + 0.8 * edges)[..., None]
    # Blooms: the pigment settles unevenly, lighter and darker patches within a wash.
    density *= (1.0 + 0.22 * _noise(rng, density.shape[:2], 40 * small_unit))[..., None]
    # A faint underdrawing keeps faces and small things readable: soft lines from the smoothed picture.
    grey = cv2.cvtColor(smooth_float, cv2.COLOR_RGB2GRAY)
    lines = cv2.GaussianBlur(grey, (0, 0), 4.0 * small_unit) - cv2.GaussianBlur(grey, (0, 0), 1.2 * small_unit)
    lines = np.clip(lines * 5.0 - 0.04, 0.0, 0.3)
    # Colour bleeds a few pixels across the borders, along a slowly wandering field; the washes,
    # worked out on the reduced copy, are laid on the page through it.
    density = cv2.GaussianBlur(density, (0, 0), 0.6)
    height, width = shape
    reach = 5.0 * unit
    coarse = (max(2, height // 4), max(2, width // 4))
    flow_x = _resized(_noise(rng, coarse, 6 * unit) * reach, shape)
    flow_y = _resized(_noise(rng, coarse, 6 * unit) * reach, shape)
    columns = np.arange(width, dtype=np.float32)[None, :]
    rows = np.arange(height, dtype=np.float32)[:, None]
    scale_x, scale_y = density.shape[1] / width, density.shape[0] / height
    density = cv2.remap(density, (columns + flow_x) * scale_x, (rows + flow_y) * scale_y, cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT)
    lines = cv2.remap(lines, (columns - 0.3 * flow_x) * scale_x, (rows - 0.3 * flow_y) * scale_y, cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REFLECT)
    # Granulation: pigment gathers in the paper's hollows, the grain shows through the wash.
    grain = _paper_grain(rng, shape, unit)
    density *= (0.8 + 0.4 * grain)[..., None]
    np.clip(density, 0.0, 1.0, out=density)
    paper = (1.0 - 0.04 * (1.0 - grain)) * (1.0 - lines)
    out = (1.0 - density) * paper[..., None]
    out *= PAPER
    return _to_uint8(out)


def _pencil(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shape = rgb.shape[:2]
    unit = _unit(shape)
    small = _reduced(rgb)
    small_unit = _unit(small.shape[:2])
    smooth = cv2.edgePreservingFilter(small, flags=cv2.RECURS_FILTER, sigma_s=40 * small_unit, sigma_r=0.3)
    smooth_float = smooth.astype(np.float32) / 255.0
    colour = _resized(_saturated(smooth_float, 1.25), shape)
    # Tone: 0 white .. 1 darkest, from the smoothed picture.
    tone = 1.0 - cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)
    grain = _paper_grain(rng, shape, unit)
    # Strokes lean one way in one patch and a little another way in the next, as a hand turns.
    turn = np.clip(_noise(rng, shape, 120 * unit) * 2.0 + 0.5, 0.0, 1.0)
    hatch = _strokes(rng, shape, unit, 50.0) * turn + _strokes(rng, shape, unit, 70.0) * (1.0 - turn)
    cross = _strokes(rng, shape, unit, -35.0)
    # Coloured pencil: light pressure everywhere there is colour, strokes crossed in the shadows;
    # the paper's tooth stays white where the pencil skipped over it.
    tooth = np.clip((grain - 0.25) * 1.6, 0.0, 1.0)
    pressure = 0.3 + 0.7 * hatch
    pressure = np.maximum(pressure, np.clip(tone - 0.45, 0.0, 1.0) * 2.0 * cross)
    pressure *= 0.45 + 0.55 * tooth
    pigment = (1.0 - colour) * np.clip(pressure * 0.95, 0.0, 1.0)[..., None]
    out = PAPER - pigment * PAPER
    # Graphite: outlines where the picture changes (the smoothed grey dodged by its blur: a pencil
    # sketch), pressed harder on the paper's tooth, and a little shading in the darkest places.
    grey = cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY).astype(np.float32)
    blurred = cv2.GaussianBlur(grey, (0, 0), 8.0 * small_unit)
    dodge = np.clip((grey + 1.0) / (blurred + 1.0), 0.0, 1.0)
    outline = _resized(np.clip((1.0 - dodge) * 5.0, 0.0, 1.0), shape)
    outline = outline ** 1.2 * (0.45 + 0.55 * hatch)
    graphite = np.clip(outline * (0.55 + 0.45 * tooth) + 0.18 * np.clip(tone - 0.55, 0.0, 1.0) * cross, 0.0, 0.85)
    out *= (1.0 - graphite)[..., None]
    out = out * (1.0 - 0.035 * (1.0 - grain))[..., None]
    return _to_uint8(out)


def _cartoon(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shape = rgb.shape[:2]
    unit = _unit(shape)
    small = _reduced(rgb, WORK_SIDE * 3 // 4)
    small_unit = _unit(small.shape[:2])
    smooth = small
    for _ in range(4):
        smooth = cv2.bilateralFilter(smooth, 7, 35, 5)
    smooth = cv2.medianBlur(smooth, 5)
    smooth_float = smooth.astype(np.float32) / 255.0
    # Ink: the borders of things, thickened, small specks dropped. Canny on the smoothed picture
    # finds changes of lightness; borders between flat patches of clearly different colour add
    # those of hue (a face against a sky as light as it).
    grey = cv2.cvtColor(smooth, cv2.COLOR_RGB2GRAY)
    median = float(np.median(grey))
    edges = cv2.Canny(grey, max(20.0, 0.66 * median), max(50.0, 1.33 * median), L2gradient=True)
    flat_lab = _flat_regions(_lab(smooth_float), 14, rng, walls=edges)
    edges[_colour_steps(flat_lab) >= 45.0] = 255
    flat = cv2.medianBlur(_to_uint8(_rgb(flat_lab)), 5)
    flat = _saturated(flat.astype(np.float32) / 255.0, 1.35, lift=0.06)
    flat = _resized(cv2.GaussianBlur(flat, (0, 0), 0.7), shape, cv2.INTER_CUBIC)  # no stair steps
    _, components, stats, _ = cv2.connectedComponentsWithStats(edges, connectivity=8)
    longest = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    keep = longest >= 30 * small_unit
    keep[0] = False
    edges = keep[components].astype(np.float32)
    ink = _resized(edges, shape)
    radius = max(1, round(1.6 * unit))
    ink = cv2.dilate(ink, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    ink = cv2.GaussianBlur(ink, (0, 0), 0.7 * unit)
    ink = np.clip((ink - 0.25) * 2.5, 0.0, 1.0)
    ink_colour = np.array([0.12, 0.09, 0.1], np.float32)
    out = flat * (1.0 - ink[..., None]) + ink_colour * ink[..., None]
    return _to_uint8(out)


_STYLES: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "watercolor": _watercolor,
    "pencil": _pencil,
    "cartoon": _cartoon,
}
_STYLE_SALT = {"watercolor": 1, "pencil": 2, "cartoon": 3}
STYLE_IDS = frozenset(_STYLES)  # the drawn styles (shared.styles.DRAWN) this module draws
