"""``make bench``: every benchmark, figures printed, nothing asserted."""

import importlib

from bench import (
    api,
    cache_memory,
    firmware_http,
    firmware_ingest,
    http,
    notify,
    render,
    scale,
    security,
    sip,
    tftp,
    ui,
    writes,
)

# bench/import.py: "import" is a keyword, so the module is imported by name.
csv_import = importlib.import_module("bench.import")

for bench in (
    render,
    tftp,
    http,
    sip,
    notify,
    firmware_ingest,
    firmware_http,
    security,
    scale,
    cache_memory,
    api,
    ui,
    writes,
    csv_import,
):
    bench.main()
    print()
