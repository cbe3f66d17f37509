"""WSGI entry points for production servers: `app.wsgi:reporter` and `app.wsgi:inspector`.

Each is built only when asked for, so a reporter process never builds the inspector site (nor reads
its configuration), and the other way round.
"""

from typing import Any

from app import create_inspector_app, create_reporter_app

_FACTORIES = {"reporter": create_reporter_app, "inspector": create_inspector_app}
_built: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    if name not in _FACTORIES:
        raise AttributeError(name)
    if name not in _built:
        _built[name] = _FACTORIES[name]()
    return _built[name]
