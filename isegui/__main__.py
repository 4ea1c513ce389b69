import sys

from isegui.cli import main

sys.exit(main())
