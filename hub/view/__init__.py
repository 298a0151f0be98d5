"""The prosecutor view 检察监督视图: a cache of the bus with a web UI and a REST API.

``create_app(settings)`` builds the ASGI application; ``liangfa view serve`` runs it.
"""

from hub.view.settings import ViewSettings

__all__ = ["ViewSettings", "create_app"]


def __getattr__(name: str) -> object:
    # The app pulls in FastAPI, Jinja and the bus clients: import it only when asked.
    if name == "create_app":
        from hub.view.app import create_app

        return create_app
    raise AttributeError(name)
