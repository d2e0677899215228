"""`python -m ablab.core.cli`: the same as the `ablab` command."""

import sys

from ablab.core.cli.main import main

sys.exit(main())
