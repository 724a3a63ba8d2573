"""The control plane the settings name, imported at start-up by every command that needs one.

Apart from ``client.py``, whose response types pull in every service's records: the
local store's commands load only what they call (``store/local_control.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from baton.errors import BadInput

if TYPE_CHECKING:
    from baton.config import Settings
    from baton.store.governance import Control
    from baton.store.store import Store


def connect(settings: Settings, store: Callable[[], Store]) -> Control:
    """The one at BATON_URL as the owner of BATON_TOKEN, else the local store (opened by
    ``store``) acting as BATON_USER."""
    if settings.url:
        if settings.token is None:
            raise BadInput(
                "BATON_URL is set but BATON_TOKEN is not: export your token "
                "(`baton user add` or `baton token new` printed it)"
            )
        from baton.client import RemoteControl

        return RemoteControl(settings.url, settings.token.get_secret_value())
    from baton.store.local_control import LocalControl

    return LocalControl(store(), settings.user)
