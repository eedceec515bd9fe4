"""``make bench``: every benchmark, figures printed, nothing asserted."""

from bench import http, render, tftp

render.main()
print()
tftp.main()
print()
http.main()
