"""The model side, no Qt: `infer/` runs models without torch (the line PC), `model/` builds,
loads and exports them (torch), `train/` runs training; here at the top, what a run is to the
rest of the program: the training protocol (run_protocol), runs in a project and their logs."""
