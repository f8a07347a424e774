"""The host agent: watches what its host needs, compiles it, reconciles the kernel.

Inputs: the watch feed (``/internal/v1/list`` and ``watch``). Outputs:
kernel state through kumo.dataplane, and port status and heartbeats back to
the API. Level-triggered: every pass compiles the whole cached view and the
reconcilers compare it with what they read back from the kernel.
"""
