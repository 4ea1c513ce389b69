"""The models (torch): builders and their registry, the blob head, batch-norm handling,
checkpoints, initial weights, devices, the torch predictor, the box segmenter the labeling tools
ask, and ONNX export. Nothing is imported here, so a module of this package costs only its own
imports."""
