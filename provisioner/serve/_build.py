"""How a gateway is put together from a :class:`ServeConfig`: one place for the server and tests.

:class:`~provisioner.serve.Server` and the serving tests' harness both call
:func:`build_gateway`, so what the tests exercise is wired as the server is:
the digest key derived from the store's device key, the ban thresholds and
the seen-record bound from the configuration, uploads and digest nonce
counts in the database (shared by every node; docs/cluster.md).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from provisioner.actor import Actor
from provisioner.edits import Edits
from provisioner.serve._bans import FailureTracker
from provisioner.serve._cache import ConfigCache
from provisioner.serve._db import Db
from provisioner.serve._digest import DigestAuth
from provisioner.serve._gateway import Gateway
from provisioner.serve._learned import LearnedAddresses
from provisioner.serve._metrics import Metrics
from provisioner.serve._nonce_claims import NonceClaims
from provisioner.serve._seen import SeenRecorder
from provisioner.store import Store

if TYPE_CHECKING:
    from provisioner.serve._config import ServeConfig

__all__ = ["build_gateway"]


def build_gateway(
    config: ServeConfig,
    store: Store,
    cache: ConfigCache,
    metrics: Metrics,
    db: Db,
    *,
    learned: LearnedAddresses | None = None,
    clock: Callable[[], float] = time.time,
) -> Gateway:
    """The gateway ``config`` describes, over ``store`` and ``cache``.

    Nonces are signed with a key derived from the store's device key, so
    every node sharing the database accepts the others' nonces.
    """
    key = hmac.new(store.tenants.device_key(), b"http-digest-nonce", hashlib.sha256).digest()
    return Gateway(
        pending=store.seen,
        phones=Edits.of(store, Actor.server("auto-register")).phones,
        cache=cache,
        digest=DigestAuth(key),
        bans=FailureTracker(
            limit=config.ban_limit,
            window=config.ban_window,
            ban_seconds=config.ban_seconds,
            exempt=config.ban_exempt,
        ),
        uploads=store.uploads,
        nonces=NonceClaims(store.nonces),
        seen=SeenRecorder(store.seen, config.seen_max_rows),
        metrics=metrics,
        learned=LearnedAddresses() if learned is None else learned,
        db=db,
        realm=config.realm,
        default_tenant=config.default_tenant,
        clock=clock,
    )
