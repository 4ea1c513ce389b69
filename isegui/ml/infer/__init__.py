"""What the line PC and the window's start-up run, without torch: detections and the predictor
interface, blob components, tiled prediction, the onnxruntime predictor, outputs, the line
watcher and the labeling suggestions' scoring. An import-linter contract (pyproject.toml) and
tests/ml/infer/test_torch_free.py keep torch and torchvision out of every module here."""
