"""The click model: a small U-Net that turns clicks (object / background) and the current mask
into the object's mask at the view's full resolution, trained per project from its own labeled
instances with simulated clicks (RITM's protocol), and the segmenter the click tool asks."""
