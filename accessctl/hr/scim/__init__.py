"""SCIM 2.0 inbound provisioning (RFC 7643/7644) for the HR intake, at ``/scim/v2/``.

An identity provider or HR system (Entra ID, Okta, Workday's SCIM client) pushes Users; each change
that matters to HR becomes a canonical HR event recorded with source ``scim`` and carried out by the
same decision path as the signed webhooks (:mod:`accessctl.hr.store`): a created User is a hire, a
new manager or department a mover, ``active=false`` or a DELETE an immediate termination (a leaver
job), ``active=true`` again a rehire.

- :mod:`.models`: the resource models (scim2-models) and what the discovery endpoints publish;
- :mod:`.wire`: strict reading of request bodies (the ``active`` rule, Entra's quirks);
- :mod:`.errors`: SCIM error responses;
- :mod:`.users`: the use cases (create, get, list, replace, patch, delete) over the store;
- :mod:`.router`: the FastAPI routes, mounted when ``[hr.scim] enabled = true``.
"""
