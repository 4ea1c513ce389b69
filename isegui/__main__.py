import multiprocessing
import sys

if __name__ == "__main__":  # not when a spawned worker imports this module as __mp_main__
    # first of all: in the frozen app a DataLoader worker is this program started again, and
    # freeze_support runs the worker's job and exits here
    multiprocessing.freeze_support()
    from isegui.runtime import ensure_streams
    ensure_streams()
    from isegui.cli import main
    sys.exit(main())
