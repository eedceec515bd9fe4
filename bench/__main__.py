"""``make bench``: every benchmark, figures printed, nothing asserted."""

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
):
    bench.main()
    print()
