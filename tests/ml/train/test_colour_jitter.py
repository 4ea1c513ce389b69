"""The colour jitter's hue turn (YIQ), against torchvision's (HSV) where they should agree."""

import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as TF

from isegui.ml.train.transforms import ColourJitter, turn_hue


def test_grey_stays_grey_and_no_turn_changes_nothing():
    grey = torch.arange(0, 256, dtype=torch.uint8).view(1, 16, 16).expand(3, -1, -1)
    assert torch.equal(turn_hue(grey, 0.12), grey)
    colours = torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8)
    assert torch.equal(turn_hue(colours, 0.0), colours)


def test_hue_turns_the_way_torchvision_turns_it():
    red = torch.tensor([200, 40, 40], dtype=torch.uint8).view(3, 1, 1)
    for turn in (0.05, 0.1):
        ours, theirs = turn_hue(red, turn).flatten(), TF.adjust_hue(red, turn).flatten()
        assert ours[1] > 40 and theirs[1] > 40  # red towards yellow: green rises
        assert ours[0] > ours[2] and theirs[0] > theirs[2]
    away = turn_hue(red, -0.1).flatten()  # the other way: towards magenta
    assert away[2] > away[1]


def test_a_muted_surface_turns_as_torchvision_turns_it():
    torch.manual_seed(0)
    grey = torch.randint(60, 200, (1, 64, 64)).float()
    tint = torch.tensor([1.0, 0.97, 0.92]).view(3, 1, 1)  # steel, slightly warm
    image = (grey * tint + torch.randn(3, 64, 64) * 3).round().clamp(0, 255).to(torch.uint8)
    difference = (turn_hue(image, 0.05).int() - TF.adjust_hue(image, 0.05).int()).abs()
    assert difference.float().mean() < 3 and difference.max() <= 8


def test_the_jitter_keeps_masks_and_float_images():
    jitter = ColourJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05)
    image = tv_tensors.Image(torch.rand(3, 32, 32))
    mask = tv_tensors.Mask(torch.ones(2, 32, 32, dtype=torch.uint8))
    out_image, out_mask = jitter(image, mask)
    assert isinstance(out_image, tv_tensors.Image) and out_image.dtype == torch.float32
    assert float(out_image.min()) >= 0 and float(out_image.max()) <= 1
    assert torch.equal(out_mask, mask)
