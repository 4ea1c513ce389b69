"""Augmentation: transforms.v2 applied jointly to the image and its instance masks (boxes are
recomputed from the masks afterwards, so rotation by any angle keeps them tight), as the run's
spec asks (ml.train.spec.AugmentConfig)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeAlias

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2 as T
from torchvision.transforms.v2 import functional as TF

from isegui.ml.train.spec import AugmentConfig

# (image, masks) -> both transformed alike; tv_tensors, which torchvision leaves untyped
Augment: TypeAlias = Callable[[Any, Any], tuple[Any, Any]]

# RGB to YIQ (NTSC): Y the brightness, I and Q the colour; a hue shift turns (I, Q) about Y
_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322],
                        [0.211, -0.523, 0.312]])
_FROM_YIQ = torch.linalg.inv(_TO_YIQ)


LIGHT_GAIN = (0.6, 1.4)  # Lighting: the crop's exposure, times this
LIGHT_SLOPE = 0.4  # Lighting: its log-gain changes by up to this across the crop, either axis


def build_augment(config: AugmentConfig, lighting: bool = False) -> Augment | None:
    """A v2 pipeline taking (Image, Mask) and returning both transformed alike; `lighting`
    (with colour jitter on): Lighting after it."""
    steps: list[Any] = []
    if config.flip:
        steps += [T.RandomHorizontalFlip(0.5), T.RandomVerticalFlip(0.5)]
    if config.rotate > 0 or tuple(config.scale) != (1.0, 1.0):
        # one affine warp does both; corners that come in from outside are black
        steps.append(T.RandomAffine(degrees=config.rotate, scale=tuple(config.scale),
                                    fill={tv_tensors.Image: 0, tv_tensors.Mask: 0}))
    if config.color > 0:
        c = config.color
        steps.append(ColourJitter(brightness=c, contrast=c, saturation=c, hue=min(0.5, c / 4)))
        if lighting:
            steps.append(Lighting())
    return T.Compose(steps) if steps else None


class Lighting(T.Transform):  # type: ignore[misc]  # torchvision is untyped
    """Another exposure and a light that falls off across the crop: the image times a smooth
    gain exp(a + b x + c y) (x, y from -1/2 to 1/2 over the crop; a from LIGHT_GAIN, b and c
    up to LIGHT_SLOPE either way). A defect told by how dark or bright it is must be told
    against its surroundings, not by its level: on PCB frames a 15-minute run took the plain
    board of dim corners of black boards for voids (~10,000 a frame; the frames' own pixels
    times 1.4: 28) and found 7,880 on a green board times 0.6."""

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        low, high = (math.log(g) for g in LIGHT_GAIN)
        draw = torch.rand(3)
        return {"gain": float(low + (high - low) * draw[0]),
                "slope": ((draw[1:] * 2 - 1) * LIGHT_SLOPE).tolist()}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not isinstance(inpt, tv_tensors.Image):
            return inpt
        pixels = inpt.as_subclass(torch.Tensor)
        height, width = pixels.shape[-2:]
        across = torch.linspace(-0.5, 0.5, width) * params["slope"][0]
        down = torch.linspace(-0.5, 0.5, height) * params["slope"][1]
        gain = torch.exp(params["gain"] + down[:, None] + across[None, :])
        lit = pixels.float() * gain
        out = (lit.round_().clamp_(0, 255).to(torch.uint8) if pixels.dtype == torch.uint8
               else lit.clamp_(0, 1).to(pixels.dtype))
        return tv_tensors.wrap(out, like=inpt)


class ColourJitter(T.ColorJitter):  # type: ignore[misc]  # torchvision is untyped
    """torchvision's ColorJitter (the same random factors, drawn alike, applied in its random
    order) with the hue turned about the grey axis in YIQ, one 3 x 3 matrix, in place of a
    round trip through HSV (the whole jitter of a 256-px crop 11.5 -> under 4 ms). Grey stays
    grey; on a brushed-steel frame the two differ by 2.4 levels on average (5 at most), on
    saturated colours more, as YIQ's hue circle is not HSV's."""

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not isinstance(inpt, tv_tensors.Image):
            return inpt
        out = inpt
        for k in params["fn_idx"].tolist():
            if k == 0 and params["brightness_factor"] is not None:
                out = TF.adjust_brightness(out, params["brightness_factor"])
            elif k == 1 and params["contrast_factor"] is not None:
                out = TF.adjust_contrast(out, params["contrast_factor"])
            elif k == 2 and params["saturation_factor"] is not None:
                out = TF.adjust_saturation(out, params["saturation_factor"])
            elif k == 3 and params["hue_factor"] is not None:
                out = turn_hue(out, params["hue_factor"])
        return tv_tensors.wrap(out, like=inpt)


def turn_hue(image: torch.Tensor, turn: float) -> torch.Tensor:
    """An RGB image (3, H, W; uint8 or 0..1 float) with its hue turned by `turn` of a full
    turn (-0.5..0.5): the colour (I, Q) rotated about the grey axis (Y), kept in range."""
    if turn == 0:
        return image
    # the way HSV turns: red towards yellow for a positive turn
    cos, sin = math.cos(2 * math.pi * turn), -math.sin(2 * math.pi * turn)
    rotate = torch.tensor([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]])
    matrix = _FROM_YIQ @ rotate @ _TO_YIQ
    pixels = image.as_subclass(torch.Tensor)
    turned = torch.einsum("ij,jhw->ihw", matrix, pixels.float())
    if pixels.dtype == torch.uint8:
        return turned.round_().clamp_(0, 255).to(torch.uint8)
    return turned.clamp_(0, 1).to(pixels.dtype)
