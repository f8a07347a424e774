"""The web dashboard, served by the API process under ``/dashboard``.

One page of hand-written JS and CSS (``static/``). The browser holds the
identity token only in an HttpOnly, SameSite=Strict cookie; ``session.py``
turns that cookie into the ``X-Auth-Token`` header for requests under
``/dashboard/api/`` (checking the CSRF header on every state-changing one),
so every dashboard route is authenticated and authorized exactly as the APIs
are. Each page's data comes from one endpoint (``pages.py``) that gathers it
with the service layer acting as the user; actions are the APIs' own
requests, sent to ``/dashboard/api/os/<api path>``; live updates come from
``events.py``, a server-sent event stream fed by the watch feed and filtered
to what the user may see.
"""
