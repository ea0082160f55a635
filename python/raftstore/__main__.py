"""``python -m raftstore``: the same as the ``raftstore`` command."""

import sys

from raftstore.cli import main

sys.exit(main())
