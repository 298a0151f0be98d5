"""Pages of oversight (issue #14, items 2 and 3): assessment 考核 and circulars 通报, the
random re-check of penalty cases 随机抽案复查, and the legal library 法律法规 / 执法依据.

Kept apart from ``web.py`` so that work on these pages does not collide with the daily
pages; the helpers (rendering, CSRF, language) are web.py's own.
"""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
