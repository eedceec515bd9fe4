"""The admin REST API (docs/api.md): its own listener in ``provisioner serve``, under ``/api/v1``.

:func:`routes` is the whole route table; :class:`ApiHandler` serves it.
Handlers are thin: they parse, check the key's tenant, call the service
layer (:mod:`provisioner.edits`, :mod:`provisioner.apikeys`, …) on the
API's own database thread, and shape the answer.
"""

from provisioner.api._app import ApiHandler
from provisioner.api._routing import PREFIX, Route, openapi
from provisioner.api._services import Services

__all__ = ["PREFIX", "ApiHandler", "Route", "Services", "openapi", "routes"]


def routes() -> list[Route]:
    """Every operation of the API."""
    from provisioner.api import (
        _bans,
        _devices,
        _files,
        _firmware,
        _fleetfile,
        _groups,
        _jobs,
        _lines,
        _other,
        _phonebooks,
        _phones,
        _preview,
        _rollouts,
        _sipxcom_csv,
        _summary,
        _tenants,
    )

    return [
        *_tenants.ROUTES,
        *_groups.ROUTES,
        *_phones.ROUTES,
        *_lines.ROUTES,
        *_other.ROUTES,
        *_preview.ROUTES,
        # Beside the fleet: operations, firmware, devices.
        *_files.ROUTES,
        *_fleetfile.ROUTES,
        *_jobs.ROUTES,
        *_firmware.ROUTES,
        *_rollouts.ROUTES,
        *_devices.ROUTES,
        *_phonebooks.ROUTES,
        *_sipxcom_csv.ROUTES,
        # The dashboard's: counts and bans.
        *_summary.ROUTES,
        *_bans.ROUTES,
    ]
