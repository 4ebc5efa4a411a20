"""The image sizes G and D can be built for (s0 x 2^k) and their layouts: arithmetic only, importing nothing."""

from __future__ import annotations


MAX_IMAGE_SIZE = 256
# The layout of G and D. 2: sizes whose start map is 5 or 7 px (28, 40, 56, 112, 160, 224) start from
# 4 x 4 like the power-of-two size above them and reach s0 x s0 by one stride-1 layer; 1: the earlier
# layout, which starts at s0 x s0 (checkpoints written before the setting keep it).
MODEL_VERSION = 2
# how G doubles a map: the paper's transposed convolution, or nearest upsampling then a convolution
UPSAMPLES = ("transposed", "nearest")


def size_plan(image_size: int) -> tuple[int, int]:
    """(s0, k) with image_size = s0 * 2^k, s0 in 3..7 and k >= 2: G grows an s0 x s0 map by k
    stride-2 layers, D shrinks the image back to it. 32 = 4 * 2^3, 64 = 4 * 2^4 (the paper's),
    28 = 7 * 2^2 (MNIST's own size), 48 = 3 * 2^4, 96 = 3 * 2^5."""
    s0, k = image_size, 0
    while s0 % 2 == 0 and s0 // 2 >= 3:  # the smallest start: 48 = 3 x 16 (not 6 x 8), 32 = 4 x 8
        s0, k = s0 // 2, k + 1
    if not (3 <= s0 <= 7 and k >= 2 and image_size <= MAX_IMAGE_SIZE):
        raise ValueError(f"image_size must be s0 x 2^k with s0 in 3..7, k >= 2, at most {MAX_IMAGE_SIZE} "
                         f"(e.g. 28, 32, 48, 64, 96, 128); got {image_size}; nearest: "
                         f"{', '.join(map(str, nearest_sizes(image_size)))}")
    return s0, k


def valid_sizes() -> list[int]:
    return sorted({s0 * 2 ** k for s0 in range(3, 8) for k in range(2, 8) if s0 * 2 ** k <= MAX_IMAGE_SIZE})


def nearest_sizes(image_size: int, n: int = 2) -> list[int]:
    """The valid sizes closest to image_size (below and above)."""
    sizes = valid_sizes()
    below = [s for s in sizes if s < image_size][-1:]
    above = [s for s in sizes if s > image_size][:1]
    return (below + above)[:n] or sizes[:n]


def has_start_block(image_size: int, model_version: int = MODEL_VERSION) -> bool:
    """Whether G and D hold a stride-1 block between 4 x 4 and the s0 x s0 map: s0 of 5 or 7, from version 2.

    In version 1, 28 px started at 7 x 7 and had two stride-2 layers where 32 px has three: G's widest
    map was half as wide, D one layer shallower and its head a 7 x 7 kernel, and after 2 epochs of
    Fashion-MNIST it scored 2.5x the 32 px FID. Version 2 gives 28 px 32 px's widths, depth and 4 x 4
    head (G: 4 -> 7 -> 14 -> 28), and scores the same as 32 px (docs/sizes-and-data.md).
    """
    return model_version >= 2 and size_plan(image_size)[0] >= 5
