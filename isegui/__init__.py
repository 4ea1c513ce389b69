"""isegui: instance segmentation for the shop floor."""

__version__ = "0.1.0"
