"""Glance v2 semantics (minimal): image records, visibility, the images kumo ships.

Inputs: calls from ``kumo/api/image``. Outputs: rows in ``images``. Image
data is not stored: an upload is hashed, sized and discarded, which is all
a namespace instance needs (it runs the program its image names).
"""
