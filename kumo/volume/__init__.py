"""Block storage (Cinder-compatible): the service layer.

Volumes, snapshots, volume types, attachments, generic groups and group
snapshots, quotas and user messages, and the storage hosts' pools. The
API (``kumo.api.volume``) calls ``VolumeService``; placement is the pure
scheduler in ``scheduler/``; every change a storage agent must act on is
emitted to the watch feed under the topic ``storage:HOST``
(``events.py``), and the agent's reports come back through ``reports.py``.
"""
