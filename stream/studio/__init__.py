"""``paystream studio``: a local web page to see and try the integration.

- ``diagram``: the topology registry (stream/topology.py) drawn as SVG;
- ``live``: rates, lag and dead letters per flow, read from workers' ``/metrics``;
- ``preview``: a sample record through the same functions the flows call;
- ``mapping_view`` / ``yaml_edit``: the mapping as tables, and table edits as a YAML diff;
- ``server``: the aiohttp routes; ``static/``: the hand-written page (no download at run time).
"""
