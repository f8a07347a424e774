"""Networking v2.0: /v2.0/segments (the ``segment`` extension's CRUD)."""

from kumo.api.networking.resource import Collection, routes
from kumo.network.segments import service as segments

router = routes(
    Collection(
        collection="segments",
        member="segment",
        attributes=segments.ATTRIBUTES,
        sql_filters=frozenset(segments.SQL_FILTERS),
        list_items=segments.list_segments,
        show=segments.show_segment,
        create=segments.create_segments,
        update=segments.update_segment,
        delete=segments.delete_segment,
    )
)
