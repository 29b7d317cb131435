"""Synthetic images and feature maps, generated from a seed (nothing is downloaded)."""
from __future__ import annotations

import math

import torch


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def textured_noise(height: int, width: int, *, seed: int = 0, scale: float = 1.0,
                   smooth: int = 3) -> torch.Tensor:
    """Smooth random texture of shape ``(height, width)``, zero mean, std about ``scale``.

    White noise blurred by a box filter of size ``smooth``: blobs rather than pixel noise.
    """
    g = _generator(seed)
    noise = torch.randn(1, 1, height + smooth - 1, width + smooth - 1, generator=g)
    kernel = torch.ones(1, 1, smooth, smooth) / smooth ** 2
    tex = torch.nn.functional.conv2d(noise, kernel)[0, 0]
    return scale * (tex - tex.mean()) / tex.std().clamp_min(1e-8)


def shape_mask(height: int, width: int, *, kind: str, center: tuple[float, float],
               size: float) -> torch.Tensor:
    """A boolean ``(height, width)`` mask of a ``"disc"``, ``"square"`` or ``"triangle"``.

    ``center`` is (row, col) in pixels, ``size`` the radius / half side in pixels.
    """
    rows = torch.arange(height, dtype=torch.float32).view(-1, 1)
    cols = torch.arange(width, dtype=torch.float32).view(1, -1)
    dy, dx = rows - center[0], cols - center[1]
    if kind == "disc":
        return dy ** 2 + dx ** 2 <= size ** 2
    if kind == "square":
        return (dy.abs() <= size) & (dx.abs() <= size)
    if kind == "triangle":
        return (dy <= size) & (dy >= -size) & (dx.abs() <= (dy + size) / 2)
    raise ValueError(f"kind must be 'disc', 'square' or 'triangle', got {kind!r}")


def shapes_image(size: int = 64, *, n_shapes: int = 3, noise: float = 0.5, seed: int = 0,
                 kinds: tuple[str, ...] = ("disc", "square", "triangle")
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A grey image of bright shapes on textured noise, and the mask of the shapes.

    Returns ``(image (1, size, size), mask (size, size) bool)``: image values are about 1 inside
    the shapes and about 0 outside, plus texture of std ``noise``.
    """
    g = _generator(seed)
    mask = torch.zeros(size, size, dtype=torch.bool)
    for _ in range(n_shapes):
        kind = kinds[int(torch.randint(len(kinds), (1,), generator=g))]
        r = float(torch.empty(1).uniform_(size / 12, size / 6, generator=g))
        cy, cx = (float(torch.empty(1).uniform_(r, size - r, generator=g)) for _ in range(2))
        mask |= shape_mask(size, size, kind=kind, center=(cy, cx), size=r)
    image = mask.float() + textured_noise(size, size, seed=seed + 1, scale=noise)
    return image.unsqueeze(0), mask


def feature_maps(size: int = 16, *, informative: int = 2, noisy: int = 2, seed: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature maps in the spirit of the seed tutorial's horse: some channels show the object
    clearly, others mostly noise.

    Returns ``(maps (informative + noisy, size, size), mask (size, size))``: channel ``i`` for
    ``i < informative`` is the object plus weak noise, the rest weak object plus strong noise.
    """
    _, mask = shapes_image(size, n_shapes=1, noise=0.0, seed=seed, kinds=("disc",))
    maps = []
    for i in range(informative + noisy):
        strength, tex = (1.0, 0.2) if i < informative else (0.2, 1.0)
        maps.append(strength * mask.float() + textured_noise(size, size, seed=seed + 10 + i,
                                                             scale=tex))
    return torch.stack(maps), mask


def segmentation_batch(n: int, size: int = 32, *, seed: int = 0, noise: float = 0.6
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images of shapes on textured noise and their masks, for a segmentation toy.

    Returns ``(images (n, 1, size, size), masks (n, 1, size, size) float in {0, 1})``.
    """
    images, masks = zip(*(shapes_image(size, n_shapes=2, noise=noise, seed=seed * 100003 + i)
                          for i in range(n)))
    return torch.stack(images), torch.stack(masks).unsqueeze(1).float()


def grid_shape(count: int, ncols: int) -> tuple[int, int]:
    """Rows and columns of a grid of ``count`` panels, at most ``ncols`` wide."""
    cols = max(1, min(ncols, count))
    return math.ceil(count / cols), cols


def feature_batch(n: int, size: int = 32, *, informative: int = 2, noisy: int = 6,
                  n_shapes: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of feature maps over images of shapes, as :func:`feature_maps` makes for one disc:
    the first ``informative`` channels show the shapes clearly, the other ``noisy`` ones barely.

    Channel ``i < informative`` is ``mask + texture of std 0.3``; the others are
    ``0.25 * mask + texture of std 1``: the object is there, but buried in noise (the seed's
    channels 3 and 4 of the horse). Every sample has its own ``n_shapes`` discs, squares and
    triangles. All textures come from one batched convolution, so a batch costs a few
    milliseconds.

    Returns ``(features (n, informative + noisy, size, size), masks (n, 1, size, size) bool)``.
    """
    g = _generator(seed)
    kinds = ("disc", "square", "triangle")
    masks = torch.zeros(n, 1, size, size, dtype=torch.bool)
    for i in range(n):
        for _ in range(n_shapes):
            kind = kinds[int(torch.randint(len(kinds), (1,), generator=g))]
            r = size / 12 + (size / 6 - size / 12) * float(torch.rand(1, generator=g))
            cy, cx = (r + (size - 2 * r) * float(torch.rand(1, generator=g)) for _ in range(2))
            masks[i, 0] |= shape_mask(size, size, kind=kind, center=(cy, cx), size=r)
    channels = informative + noisy
    smooth = 3
    noise = torch.randn(n * channels, 1, size + smooth - 1, size + smooth - 1, generator=g)
    tex = torch.nn.functional.conv2d(noise, torch.ones(1, 1, smooth, smooth) / smooth ** 2)
    tex = tex - tex.mean(dim=(2, 3), keepdim=True)
    tex = (tex / tex.std(dim=(2, 3), keepdim=True).clamp_min(1e-8)).view(n, channels, size, size)
    strength = torch.tensor([1.0] * informative + [0.25] * noisy).view(1, channels, 1, 1)
    scale = torch.tensor([0.3] * informative + [1.0] * noisy).view(1, channels, 1, 1)
    return strength * masks.float() + scale * tex, masks


def shapes_dataset(n: int, size: int = 24, *, radius: float = 4.5, noise: float = 0.2,
                   seed: int = 0, kinds: tuple[str, ...] = ("disc", "square", "triangle")
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` images of one shape each, anywhere in the image, labelled by the kind of shape.

    A toy classification set: the class is *what* the shape is (``kinds[label]``), never *where*
    it is, so a classifier has to recognise a shape at positions it has not seen.

    Returns ``(images (n, 1, size, size), labels (n,) int64)``: values about 1 inside the shape and
    0 outside, plus smooth noise of std ``noise``.
    """
    g = _generator(seed)
    labels = torch.randint(len(kinds), (n,), generator=g)
    margin = radius + 1
    cy, cx = (margin + (size - 2 * margin) * torch.rand(n, 1, 1, generator=g) for _ in range(2))
    masks = torch.stack([shape_mask(size, size, kind=k, center=(cy, cx), size=radius)
                         for k in kinds])                        # (kinds, n, size, size)
    image = masks[labels, torch.arange(n)].float()
    tex = torch.nn.functional.avg_pool2d(torch.randn(n, 1, size + 1, size + 1, generator=g), 2,
                                         stride=1)
    tex = tex / tex.std(dim=(2, 3), keepdim=True).clamp_min(1e-8)
    return image.unsqueeze(1) + noise * tex, labels


def edge_features(images: torch.Tensor, orientations: int = 4) -> torch.Tensor:
    """Fixed feature maps of grey images: a stand-in for the last layer of a trained backbone.

    Each of ``orientations`` 3x3 derivative filters (edges at angles ``pi * i / orientations``)
    gives two channels, its positive and its negative part (a ReLU of each sign), and a last
    channel is the ReLU of the image itself. Nothing is learned.

    Returns ``(N, 2 * orientations + 1, H, W)`` for ``images`` of shape ``(N, 1, H, W)``.
    """
    yy, xx = torch.meshgrid(torch.arange(-1.0, 2.0), torch.arange(-1.0, 2.0), indexing="ij")
    kernels = []
    for i in range(orientations):
        angle = math.pi * i / orientations
        along = xx * math.cos(angle) + yy * math.sin(angle)
        kernels.append(along * torch.exp(-(xx ** 2 + yy ** 2) / 2))
    edges = torch.nn.functional.conv2d(images, torch.stack(kernels).unsqueeze(1).to(images),
                                       padding=1)
    return torch.cat([edges.relu(), (-edges).relu(), images.relu()], dim=1)
