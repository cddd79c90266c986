"""Registry of the sample photographs shipped in ``assets/``.

User input never becomes a path: :func:`load_sample_image` only accepts display
names that are keys of :data:`SAMPLE_IMAGES`, and file names come from that registry.
Sources, authors and licences are in ``assets/LICENSE.md``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from roiviz.images import decode_image
from roiviz.resources import ASSETS_DIR

__all__ = ["ASSETS_DIR", "SAMPLE_IMAGES", "load_sample_image", "sample_image_names"]


#: Display name -> file name in :data:`ASSETS_DIR`. The first entry is the default.
SAMPLE_IMAGES: dict[str, str] = {
    "astronaut": "astronaut.jpg",  # 512 x 512, NASA, public domain
    "coffee": "coffee.jpg",  # 512 x 341, Rachel Michetti, CC0
    "chelsea": "chelsea.jpg",  # 451 x 300, Stefan van der Walt, CC0
}


def sample_image_names() -> tuple[str, ...]:
    """Display names of the sample images, in registry order (default first)."""
    return tuple(SAMPLE_IMAGES)


@lru_cache(maxsize=len(SAMPLE_IMAGES))
def _load_cached(name: str) -> np.ndarray:
    path = ASSETS_DIR / SAMPLE_IMAGES[name]
    return decode_image(path.read_bytes())


def load_sample_image(name: str) -> np.ndarray:
    """Load a shipped sample photograph by display name.

    Args:
        name: one of :func:`sample_image_names` (exact match).

    Returns:
        ``uint8 [H, W, 3]`` RGB, read-only; the same cached array on every call.

    Raises:
        ValueError: if ``name`` is not a registered name (the message lists them).
        FileNotFoundError: if the assets folder is missing (a broken install).
    """
    if not isinstance(name, str) or name not in SAMPLE_IMAGES:
        allowed = ", ".join(repr(n) for n in SAMPLE_IMAGES)
        raise ValueError(f"Unknown sample image {name!r}; choose one of: {allowed}.")
    return _load_cached(name)
