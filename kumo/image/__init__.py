"""Glance v2 semantics: image records and their data, members, tags, quota.

Inputs: calls from ``kumo/api/image``. Outputs: rows in ``images`` and
``image_members``, and image files in the store (``store.py``: a directory
under the state directory, or one shared by every API server). Every
authorization decision asks the policy table's ``image:*`` rules
(``access.py``). ``busybox`` ships public and active with no data: a
namespace instance runs the program its properties name.
"""
