"""``python -m riskpipe.simulate [args]`` (same as ``riskpipe simulate [args]``)."""

import sys

from riskpipe.simulate.cli import main

sys.exit(main())
