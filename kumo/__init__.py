"""kumo: a compact, OpenStack-compatible cloud with distributed networking.

The pipeline, one direction:

    api/ -> identity/, network/ (service layer) -> db/ (objects + outbox)
         -> watch feed -> agent/ -> compiler/ (pure) -> dataplane/ -> kernel
"""

__version__ = "0.1.0"
