"""The registered models. Both are torchvision Mask R-CNNs that resize every image so its long
side is the training size. `light_maskrcnn` also builds the variants bench/ compares."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn
from torchvision.models import MobileNet_V3_Large_Weights, ResNet50_Weights
from torchvision.models.detection import (MaskRCNN, MaskRCNN_ResNet50_FPN_V2_Weights,
                                          maskrcnn_resnet50_fpn_v2)
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import mobilenet_backbone
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import MultiScaleRoIAlign

from isegui.ml.model.table import register


@register("accurate", description="Mask R-CNN, ResNet-50 FPN v2 (torchvision); best on a GPU",
          default_lr=2e-4, pretrained=(MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
                                       ResNet50_Weights.IMAGENET1K_V2,
                                       ResNet50_Weights.IMAGENET1K_V1))
def build_accurate(*, num_classes: int, size: int) -> nn.Module:
    model: nn.Module = maskrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None,
                                                num_classes=num_classes, min_size=size,
                                                max_size=size)
    return model


@register("fast", description="Mask R-CNN, MobileNetV3-Large FPN at strides 8-64, light "
          "heads; for CPUs", default_lr=2e-3,
          pretrained=(MobileNet_V3_Large_Weights.IMAGENET1K_V1,))
def build_fast(*, num_classes: int, size: int) -> nn.Module:
    # the design and its alternatives were chosen by bench/train_quality.py's figures
    # (bench/results/fast_variants.jsonl): the finest level is what lets small parts learn
    return light_maskrcnn(num_classes=num_classes, size=size)


def _batch_norm(channels: int) -> nn.Module:
    # torchvision's MobileNetV3 epsilon; a faster running average than its 0.01, since a
    # short run on a CPU takes only a few hundred steps
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.03)


def light_maskrcnn(*, num_classes: int, size: int, returned_layers: Sequence[int] = (2, 3, 4),
                   channels: int = 64, norm: Callable[[int], nn.Module] = _batch_norm,
                   smallest_anchor: int = 16, box_features: int = 256,
                   mask_layers: Sequence[int] = (64, 64)) -> nn.Module:
    """A Mask R-CNN sized for tens of parts of 10-200 px in 256-1024 px images, trained from
    scratch at batch 2-8 on a CPU: MobileNetV3-Large, an FPN of `channels` on its stages
    `returned_layers` (2, 3, 4: strides 8, 16, 32, plus 64 by pooling), two anchor sizes per
    level, a small box MLP and mask head, and proposal and detection counts for tens of
    objects. Training sees BatchNorm's batch statistics, prediction its running averages, so
    nothing depends on how an image is padded (GroupNorm's statistics would)."""
    from torchvision.ops.feature_pyramid_network import (FeaturePyramidNetwork,
                                                         LastLevelMaxPool)
    backbone = mobilenet_backbone(backbone_name="mobilenet_v3_large", weights=None, fpn=True,
                                  norm_layer=norm, trainable_layers=6,
                                  returned_layers=list(returned_layers))
    # torchvision's FPN here has 256 channels: four times the work of what these scenes need
    backbone.fpn = FeaturePyramidNetwork([block[0].in_channels for block in
                                          backbone.fpn.inner_blocks], channels,
                                         extra_blocks=LastLevelMaxPool())
    backbone.out_channels = channels
    levels = [str(k) for k in range(len(returned_layers))]
    anchors = AnchorGenerator(
        sizes=tuple((smallest_anchor * 2 ** k, smallest_anchor * 3 * 2 ** k // 2)
                    for k in range(len(levels) + 1)),
        aspect_ratios=((0.5, 1.0, 2.0),) * (len(levels) + 1))
    model: nn.Module = MaskRCNN(
        backbone, num_classes=None, min_size=size, max_size=size,
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(channels, anchors.num_anchors_per_location()[0]),
        rpn_pre_nms_top_n_train=600, rpn_post_nms_top_n_train=300,
        rpn_pre_nms_top_n_test=300, rpn_post_nms_top_n_test=100,
        rpn_batch_size_per_image=128,
        box_roi_pool=MultiScaleRoIAlign(levels, 7, 2),
        box_head=TwoMLPHead(channels * 7 * 7, box_features),
        box_predictor=FastRCNNPredictor(box_features, num_classes),
        box_batch_size_per_image=128, box_detections_per_img=100,
        mask_roi_pool=MultiScaleRoIAlign(levels, 14, 2),
        mask_head=MaskRCNNHeads(channels, list(mask_layers), 1),
        mask_predictor=MaskRCNNPredictor(mask_layers[-1], mask_layers[-1], num_classes),
    )
    return model
