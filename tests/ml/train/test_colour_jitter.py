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


def test_lighting_scales_the_image_by_a_smooth_gain_and_leaves_masks_alone():
    from isegui.ml.train.transforms import LIGHT_GAIN, LIGHT_SLOPE, Lighting
    image = tv_tensors.Image(torch.full((3, 64, 96), 100, dtype=torch.uint8))
    mask = tv_tensors.Mask(torch.zeros((1, 64, 96), dtype=torch.uint8))
    mask[0, 10:20, 10:20] = 1
    gains = []
    for seed in range(20):
        torch.manual_seed(seed)
        lit, same = Lighting()(image, mask)
        assert torch.equal(same, mask) and lit.dtype == torch.uint8
        gain = lit.float() / 100
        assert torch.equal(lit[0], lit[1]) and torch.equal(lit[1], lit[2])  # no colour cast
        steps = (gain[0, :, 1:] - gain[0, :, :-1]).abs().max()
        assert steps <= 0.02  # smooth: a light, not a pattern
        bound = (LIGHT_GAIN[0] * torch.exp(torch.tensor(-LIGHT_SLOPE)) - 0.01,
                 LIGHT_GAIN[1] * torch.exp(torch.tensor(LIGHT_SLOPE)) + 0.01)
        assert bound[0] <= gain.min() and gain.max() <= bound[1]
        gains.append(float(gain.mean()))
    assert min(gains) < 0.85 and max(gains) > 1.15  # dimmer and brighter exposures both
