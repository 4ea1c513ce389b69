"""How every `isegui` command ends, the training process included: the window reads a training
run's end from these (ml.run_protocol), the line PC's scripts read `isegui watch`'s. Apart from
both so that a command that never trains (the line's) imports nothing of training."""

EXIT_OK = 0
EXIT_FAILED = 1  # what was asked could not be done; the message said why
EXIT_USAGE = 2  # the command line itself was wrong (argparse's code too)
EXIT_CANCELLED = 3  # stopped on request (training: the checkpoint so far is kept)
