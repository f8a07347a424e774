"""The watch feed: snapshots (``list``) and change streams (``watch``) by topic.

Inputs: the outbox (kumo/db/outbox.py), whose revisions become visible in
commit order. Outputs: newline-delimited JSON for agents. Each API process
runs one ``Tailer`` that reads new outbox rows and keeps the most recent in
memory; every watcher of that process reads from there, so the database
sees one poll per process, not one per watcher.
"""
