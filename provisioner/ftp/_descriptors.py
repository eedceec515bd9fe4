"""Enough file descriptors for the connections the FTP server admits.

Every admitted FTP session holds its control socket and, while it
transfers, a passive listener or a data socket. Systems commonly start a
service with a soft ``RLIMIT_NOFILE`` of 1,024 and a far higher hard limit
(systemd: 524,288), which a thousand sessions would exhaust: ``accept()``
then fails with EMFILE for everyone. The soft limit may be raised up to the
hard one without privileges (getrlimit(2)).
"""

from __future__ import annotations

import logging
import resource

__all__ = ["DESCRIPTORS_PER_SESSION", "raise_descriptor_limit"]

log = logging.getLogger("provisioner.ftp")

# The control socket, a passive listener and the data socket it accepted.
DESCRIPTORS_PER_SESSION = 3
# The rest of the process: database, log files, the HTTP(S) and TFTP sockets.
_RESERVE = 256


def raise_descriptor_limit(sessions: int) -> int:
    """Raise the soft descriptor limit to the hard one if ``sessions`` need more.

    Returns the soft limit in force afterwards. When even the hard limit is
    too low, a warning names what is missing; the server still starts.
    """
    needed = sessions * DESCRIPTORS_PER_SESSION + _RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit to %d: %s", target, exc)
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "open-file limit %d is below the %d that %d FTP connections may need;"
            " raise the hard limit (ulimit -Hn, systemd LimitNOFILE=) or admit fewer",
            soft,
            needed,
            sessions,
        )
    return soft
