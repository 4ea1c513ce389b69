"""A training run (torch): `trainer.fit(spec, reporter, cancel)`, its spec and state, the data
(whole images and tiles) with augmentation, cancelling mid-step, several processes (DDP),
evaluation and the advice said before a run starts. Nothing is imported here, so a module of
this package costs only its own imports."""
