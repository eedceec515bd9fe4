"""``make bench``: every benchmark, figures printed, nothing asserted."""

from bench import render

render.main()
