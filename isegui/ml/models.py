"""The registered models. Both are torchvision Mask R-CNNs that resize every image so its long
side is the training size."""

from __future__ import annotations

from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights, ResNet50_Weights
from torchvision.models.detection import (MaskRCNN, MaskRCNN_ResNet50_FPN_V2_Weights,
                                          maskrcnn_resnet50_fpn_v2)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import mobilenet_backbone
from torchvision.ops import MultiScaleRoIAlign

from isegui.ml.registry import register


@register("accurate", description="Mask R-CNN, ResNet-50 FPN v2 (torchvision); best on a GPU",
          default_lr=2e-4, pretrained=(MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
                                       ResNet50_Weights.IMAGENET1K_V2,
                                       ResNet50_Weights.IMAGENET1K_V1))
def build_accurate(*, num_classes: int, size: int) -> nn.Module:
    return maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None,
                                    num_classes=num_classes, min_size=size, max_size=size)


def _group_norm(channels: int) -> nn.Module:
    # every MobileNetV3 width is a multiple of 8; GroupNorm trains at batch 2-8 from scratch,
    # where BatchNorm's statistics would be noise
    return nn.GroupNorm(8, channels)


@register("fast", description="Mask R-CNN, MobileNetV3-Large FPN with GroupNorm; for CPUs",
          default_lr=1e-3, pretrained=(MobileNet_V3_Large_Weights.IMAGENET1K_V1,))
def build_fast(*, num_classes: int, size: int) -> nn.Module:
    backbone = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True,
                                  norm_layer=_group_norm, trainable_layers=6)
    anchors = AnchorGenerator(sizes=((16, 32, 64, 128, 256),) * 3,
                              aspect_ratios=((0.5, 1.0, 2.0),) * 3)
    return MaskRCNN(
        backbone, num_classes=num_classes, min_size=size, max_size=size,
        rpn_anchor_generator=anchors,
        rpn_pre_nms_top_n_train=1000, rpn_post_nms_top_n_train=500,
        rpn_pre_nms_top_n_test=500, rpn_post_nms_top_n_test=300,
        box_batch_size_per_image=256, box_detections_per_img=200,
        box_roi_pool=MultiScaleRoIAlign(["0", "1", "pool"], 7, 2),
        mask_roi_pool=MultiScaleRoIAlign(["0", "1", "pool"], 14, 2),
    )

