"""Telemetry: Prometheus metrics, request ids, structured logs.

``exposition`` renders what a process exposes on ``/metrics`` (several
uvicorn workers share one per-run directory: prometheus_client's
multiprocess mode); ``api`` and ``agent`` hold the metrics of the API
servers and of the host agents; ``traffic`` turns the nftables counters of
one host into per-port, per-floating-IP and per-gateway byte counts;
``request_id`` carries the id of the HTTP request being served into the
outbox events it causes; ``logs`` writes one JSON object per log line.
"""
