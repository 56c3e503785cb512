"""``python -m optype_dlpack``: the command line of ``optype_dlpack._cli`` (also ``optype-dlpack``)."""

from __future__ import annotations

import sys

from ._cli import MODULE_PROG, main

if __name__ == "__main__":
    sys.exit(main(prog=MODULE_PROG))
