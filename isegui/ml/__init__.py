"""The model side: train, predict, evaluate. torch, torchvision and pycocotools; no Qt."""
