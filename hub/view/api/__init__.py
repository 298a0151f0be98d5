"""The view's REST API (``/api``); the routes live in ``hub.view.api.routes``."""
