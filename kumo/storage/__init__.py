"""The storage agent: one process per storage host, serving its pools.

Input: the watch feed's ``storage:HOST`` topic (the volumes and snapshots
the scheduler placed on this host, ``kumo.volume.events``). Output: qcow2
files in the pools' directories, made, grown, copied and removed with
``qemu-img`` (``qemu.py``, ``pool.py``), and reports of each outcome to
the internal API. Level-triggered (``agent.py``): every pass compares each
object's status with the files on disk, so a restarted agent, or one that
missed an event, finishes what is left; a report that did not get through
is sent again on the next pass.
"""
