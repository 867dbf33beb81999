"""A second opinion on the cascade's face boxes: HOG features and a logistic regression.

The LBP cascade fires on face-like blobs (a highlight on a helmet visor, a blurred clock face, a
drawn letter). Each box it keeps is cropped, scaled to 24x24 and scored by a linear model over
its HOG descriptor. The model's 325 numbers ship as ``face_model.npz``; ``python -m
paperchain_vision.faceverify`` rebuilds them (scikit-learn, the ``test`` extra) from data inside
scikit-image: the first 50 face crops of its LFW subset and their mirror images, against its first
50 non-face crops, random patches of sample images that hold no face, and every box the cascade
itself finds on those images (hard negatives: what it mistakes for faces). The last 50 + 50 LFW
crops and the other sample images are kept out of training: the tests measure the detector on them.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image

from .cascade import candidate_boxes

MODEL_PATH = Path(__file__).with_name("face_model.npz")
PATCH = 24
TRAIN_FACES = slice(0, 50)
TRAIN_OTHERS = slice(100, 150)
# Sample images with no face and no relative in the measured set (tests/data/faces.json).
FACELESS_SAMPLES = ("cell.png", "ihc.png", "phantom.png", "logo.png", "color.png", "gravel.png",
                    "chessboard_GRAY.png")
PATCHES_PER_SAMPLE = 60


def descriptor(gray: np.ndarray) -> np.ndarray:
    """HOG of a grey patch (values 0-1, any size), contrast-normalised so lighting does not count."""
    from skimage.feature import hog

    patch = Image.fromarray((np.clip(gray, 0, 1) * 255).astype(np.uint8)).resize((PATCH, PATCH), Image.Resampling.BOX)
    pixels = np.asarray(patch, np.float64) / 255.0
    pixels = (pixels - pixels.mean()) / (pixels.std() + 1e-6)
    return hog(pixels, orientations=9, pixels_per_cell=(6, 6), cells_per_block=(2, 2))


def _faceless_patches(rng: np.random.Generator) -> list[np.ndarray]:
    """Random squares of each faceless sample, and every box the cascade finds on it."""
    from skimage import data

    folder = Path(data.__file__).parent
    patches = []
    for name in FACELESS_SAMPLES:
        gray = np.asarray(Image.open(folder / name).convert("L"), np.float64) / 255.0
        patches += [gray[y:y + h, x:x + w] for x, y, w, h in candidate_boxes(gray, min_neighbor_number=1)]
        for _ in range(PATCHES_PER_SAMPLE):
            side = int(rng.integers(PATCH, min(gray.shape) // 2))
            y = int(rng.integers(0, gray.shape[0] - side))
            x = int(rng.integers(0, gray.shape[1] - side))
            patches.append(gray[y:y + side, x:x + side])
    return patches


def train() -> tuple[np.ndarray, float]:
    """The model's weights and intercept, trained as the module docstring says (deterministic)."""
    from skimage import data
    from sklearn.linear_model import LogisticRegression

    crops = data.lfw_subset()
    faces = [*crops[TRAIN_FACES], *(crop[:, ::-1] for crop in crops[TRAIN_FACES])]
    others = [*crops[TRAIN_OTHERS], *_faceless_patches(np.random.default_rng(0))]
    features = np.array([descriptor(p) for p in faces + others])
    labels = np.array([1] * len(faces) + [0] * len(others))
    model = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced").fit(features, labels)
    return model.coef_[0].copy(), float(model.intercept_[0])


@functools.lru_cache(maxsize=1)
def _weights() -> tuple[np.ndarray, float]:
    with np.load(MODEL_PATH) as stored:
        return stored["coef"], float(stored["intercept"])


def face_scores(gray: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> list[float]:
    """P(face) for each ``(x, y, width, height)`` box of ``gray``."""
    if not boxes:
        return []
    coef, intercept = _weights()
    features = np.array([descriptor(gray[y:y + h, x:x + w]) for x, y, w, h in boxes])
    return [float(p) for p in 1.0 / (1.0 + np.exp(-(features @ coef + intercept)))]


if __name__ == "__main__":
    weights, bias = train()
    np.savez(MODEL_PATH, coef=weights, intercept=np.float64(bias))
    print(f"wrote {MODEL_PATH} ({weights.size} weights)")
