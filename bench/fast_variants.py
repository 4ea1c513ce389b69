"""The designs tried for the `fast` model, registered as `variant-*` so that
bench/train_quality.py can train and time them beside `fast` (--models fast,variant-s32-gn64).
Benchmark-only: the app registers only `fast` and `accurate`. Their recorded figures are in
bench/results/fast_variants.jsonl."""

from __future__ import annotations

from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import mobilenet_backbone
from torchvision.ops import MultiScaleRoIAlign

from isegui.ml.model.builders import light_maskrcnn
from isegui.ml.model.registry import register


def _group_norm(channels: int) -> nn.Module:
    return nn.GroupNorm(8, channels)


@register("variant-s32-gn256", default_lr=1e-3,
          description="the first `fast`: MobileNetV3 FPN (torchvision's: both levels at stride "
          "32) with 256 channels, GroupNorm, torchvision's heads")
def s32_gn256(*, num_classes: int, size: int) -> nn.Module:
    backbone = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True,
                                  norm_layer=_group_norm, trainable_layers=6)
    anchors = AnchorGenerator(sizes=((16, 32, 64, 128, 256),) * 3,
                              aspect_ratios=((0.5, 1.0, 2.0),) * 3)
    return MaskRCNN(backbone, num_classes=num_classes, min_size=size, max_size=size,
                    rpn_anchor_generator=anchors,
                    rpn_pre_nms_top_n_train=1000, rpn_post_nms_top_n_train=500,
                    rpn_pre_nms_top_n_test=500, rpn_post_nms_top_n_test=300,
                    box_batch_size_per_image=256, box_detections_per_img=200,
                    box_roi_pool=MultiScaleRoIAlign(["0", "1", "pool"], 7, 2),
                    mask_roi_pool=MultiScaleRoIAlign(["0", "1", "pool"], 14, 2))


@register("variant-s32-gn64", default_lr=1e-3,
          description="stride-32 levels as the first `fast`, with `fast`'s 64-channel FPN and "
          "light heads, GroupNorm")
def s32_gn64(*, num_classes: int, size: int) -> nn.Module:
    return light_maskrcnn(num_classes=num_classes, size=size, returned_layers=(4, 5),
                          norm=_group_norm)


@register("variant-s8-gn64", default_lr=1e-3,
          description="`fast` with GroupNorm instead of BatchNorm")
def s8_gn64(*, num_classes: int, size: int) -> nn.Module:
    return light_maskrcnn(num_classes=num_classes, size=size, norm=_group_norm)


@register("variant-s4-bn64", default_lr=1e-3,
          description="`fast` with a stride-4 level added (anchors from 8 px)")
def s4_bn64(*, num_classes: int, size: int) -> nn.Module:
    return light_maskrcnn(num_classes=num_classes, size=size, returned_layers=(1, 2, 3, 4),
                          smallest_anchor=8)


@register("variant-s8-bn96", default_lr=2e-3,
          description="`fast` with a 96-channel FPN and mask head")
def s8_bn96(*, num_classes: int, size: int) -> nn.Module:
    return light_maskrcnn(num_classes=num_classes, size=size, channels=96, mask_layers=(96, 96))
