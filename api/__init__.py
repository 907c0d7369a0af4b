"""The central API: stores, customers and consent, event ingest, rules, alerts and coupons.

Edge package (FastAPI + SQLModel). Layout follows the request path: ``routes/`` (one router
per resource) -> ``deps.py`` (session, clock, principal and access rules) -> ``crud/`` ->
``models.py``. Pure decision logic lives in ``rules.py`` and ``routing.py`` and is tested
without a database, with time injected.
"""
