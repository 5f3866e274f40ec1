"""`python -m embed_assets.cli`: the same as the `embed-assets` command."""

import sys

from embed_assets.cli.commands import main

sys.exit(main())
