"""``python -m provisioner``: the same as the ``provisioner`` command."""

from provisioner._entry import run

run()
