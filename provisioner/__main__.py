"""``python -m provisioner``: the same as the ``provisioner`` command."""

import sys

from provisioner.cli import main

sys.exit(main())
