"""The scale-out engine: site workers on Celery, with Redis as broker and result backend.

A host with a ``site`` (inventory) is run by a ``psfleet worker --site NAME`` that consumes
only that site's queue (:func:`toolkit.engine.app.queue_name`); hosts without a site run on
the controller, as a local run does. The controller (:mod:`toolkit.engine.controller`) sends
each site its hosts in batches and reads per-host results as they are streamed back through
Redis, so the report is the one a local run writes.

Secrets never travel: a task carries each host's credential *source* (environment variable
name, keyring service, Kerberos), and the worker resolves it locally
(:mod:`toolkit.engine.wire`). Celery and redis are the ``engine`` extra: nothing here is
imported by a local run.
"""
