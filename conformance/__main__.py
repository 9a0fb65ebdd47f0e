"""``python -m conformance``: see :mod:`conformance.harness`."""

import sys

from conformance.harness import main

sys.exit(main())
