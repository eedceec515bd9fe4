"""The FTP front end: phones fetch and upload files over FTP.

Built on pyftpdlib: all connections share one thread, and a few more run
backend calls; none of them is the asyncio loop. It knows nothing about
phones, tenants or the database: logins, files, upload limits and what to
record all come from one :class:`FtpBackend` the application provides.
There is no local filesystem behind it: downloads are served from memory
(or a file the backend names), uploads are collected in memory and handed
over whole. See docs/ftp.md.
"""

from provisioner.ftp._backend import Client, FtpBackend, FtpEvent
from provisioner.ftp._server import FtpServer

__all__ = ["Client", "FtpBackend", "FtpEvent", "FtpServer"]
