import multiprocessing
import sys

if __name__ == "__main__":  # not when a spawned worker imports this module as __mp_main__
    # first of all: in the frozen app a DataLoader worker is this program started again, and
    # freeze_support runs the worker's job and exits here
    multiprocessing.freeze_support()
    from isegui.runtime import VC_RUNTIME, VC_RUNTIME_TORCH, ensure_streams, \
        refuse_without_vc_runtime
    ensure_streams()
    refuse_without_vc_runtime(VC_RUNTIME + VC_RUNTIME_TORCH)
    from isegui.cli import main
    sys.exit(main())
