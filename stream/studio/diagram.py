"""The topology registry drawn as an SVG diagram: sources, topics, flows, tables and sinks.

Nodes are laid out in columns by their longest path from an external source, so data flows
left to right. Each flow's node carries ``data-flow`` (the page shows its details on a click)
and a ``live-<flow>`` text the page fills with rates, lag and dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from stream.runtime.spec import FlowSpec
from stream.topic_names import POSITION_TOPICS, TOPICS

COLUMN, ROW, WIDTH, HEIGHT, MARGIN = 210, 78, 172, 54, 16


@dataclass
class Node:
    id: str
    kind: str  # external | topic | source | stream | sink
    label: str
    detail: str = ""
    tables: tuple[str, ...] = ()
    rank: int = 0
    row: int = 0

    @property
    def x(self) -> int:
        return MARGIN + self.rank * COLUMN

    @property
    def y(self) -> int:
        return MARGIN + self.row * ROW


@dataclass
class Graph:
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)


def _is_topic(name: str) -> bool:
    return name in TOPICS or name in POSITION_TOPICS


def _external(flow: FlowSpec, text: str, index: int, side: str) -> Node:
    system = text.split(":", 1)[0].strip()
    return Node(f"ext:{side}:{flow.name}:{index}", "external", system, text)


def build(flows: tuple[FlowSpec, ...]) -> Graph:
    graph = Graph()
    for flow in flows:
        graph.nodes[f"flow:{flow.name}"] = Node(
            f"flow:{flow.name}", flow.kind, flow.name, flow.kind, flow.tables
        )
    for flow in flows:
        me = f"flow:{flow.name}"
        for index, read in enumerate(flow.reads):
            if _is_topic(read):
                graph.nodes.setdefault(f"topic:{read}", Node(f"topic:{read}", "topic", read))
                graph.edges.append((f"topic:{read}", me))
            else:
                node = _external(flow, read, index, "in")
                graph.nodes[node.id] = node
                graph.edges.append((node.id, me))
        for index, write in enumerate(flow.writes):
            if write in POSITION_TOPICS:
                continue  # a source's own position: clutter, not data flow
            if _is_topic(write):
                graph.nodes.setdefault(f"topic:{write}", Node(f"topic:{write}", "topic", write))
                graph.edges.append((me, f"topic:{write}"))
            else:
                node = _external(flow, write, index, "out")
                graph.nodes[node.id] = node
                graph.edges.append((me, node.id))
    _layout(graph)
    return graph


def _layout(graph: Graph) -> None:
    # Longest path from the sources (bounded passes: the registry is a DAG, but a future
    # cycle must not hang the page).
    for _ in range(len(graph.nodes)):
        moved = False
        for src, dst in graph.edges:
            wanted = graph.nodes[src].rank + 1
            if graph.nodes[dst].rank < wanted:
                graph.nodes[dst].rank = wanted
                moved = True
        if not moved:
            break
    # Rows, one column at a time: a node sits near the rows of what feeds it (fewer
    # crossing edges); sources keep the registry's order.
    feeds: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        feeds.setdefault(dst, []).append(src)
    order = {node_id: index for index, node_id in enumerate(graph.nodes)}
    for rank in sorted({n.rank for n in graph.nodes.values()}):
        column = [n for n in graph.nodes.values() if n.rank == rank]

        def place(node: Node, rank: int = rank) -> float:
            rows = [
                graph.nodes[s].row for s in feeds.get(node.id, ()) if graph.nodes[s].rank < rank
            ]
            return sum(rows) / len(rows) if rows else order[node.id] / len(order)

        for row, node in enumerate(sorted(column, key=lambda n: (place(n), order[n.id]))):
            node.row = row


def _box(node: Node) -> str:
    title = escape(node.detail or node.label)
    label = escape(node.label if len(node.label) <= 24 else node.label[:23] + "…")
    attrs = f'class="node {node.kind}" id="{escape(node.id)}" tabindex="0"'
    if node.id.startswith("flow:"):
        attrs += f' data-flow="{escape(node.label)}"'
    elif node.kind == "topic":
        attrs += f' data-topic="{escape(node.label)}"'
    parts = [
        f"<g {attrs}><title>{title}</title>",
        f'<rect x="{node.x}" y="{node.y}" width="{WIDTH}" height="{HEIGHT}" rx="6"/>',
        f'<text x="{node.x + 8}" y="{node.y + 18}" class="label">{label}</text>',
    ]
    sub = f"[{node.kind}]" + (f" table {', '.join(node.tables)}" if node.tables else "")
    parts.append(f'<text x="{node.x + 8}" y="{node.y + 33}" class="sub">{escape(sub)}</text>')
    if node.id.startswith("flow:"):
        parts.append(
            f'<text x="{node.x + 8}" y="{node.y + 47}" class="live" '
            f'id="live-{escape(node.label)}"></text>'
        )
    parts.append("</g>")
    return "".join(parts)


def svg(flows: tuple[FlowSpec, ...]) -> str:
    graph = build(flows)
    width = MARGIN * 2 + (max(n.rank for n in graph.nodes.values()) + 1) * COLUMN
    height = MARGIN * 2 + (max(n.row for n in graph.nodes.values()) + 1) * ROW
    lines = []
    for src, dst in graph.edges:
        a, b = graph.nodes[src], graph.nodes[dst]
        x1, y1 = a.x + WIDTH, a.y + HEIGHT // 2
        x2, y2 = b.x, b.y + HEIGHT // 2
        mid = (x1 + x2) // 2
        lines.append(
            f'<path class="edge" data-from="{escape(src)}" data-to="{escape(dst)}" '
            f'd="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" marker-end="url(#arrow)"/>'
        )
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="topology" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="paystream topology">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
    )
    return head + "".join(lines) + "".join(_box(n) for n in graph.nodes.values()) + "</svg>"
