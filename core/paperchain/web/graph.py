"""A workflow's steps drawn as a graph: server-side SVG from ``needs``, laid out in layers.

A step's layer is the length of the longest chain of ``needs`` above it, so every arrow points
down. Within a layer steps are ordered by where their parents stand (the mean of the parents'
positions), which keeps most arrows from crossing without a graph library. The SVG carries
classes only (app.css styles it in light and dark) and names itself for screen readers.
"""

from __future__ import annotations

import attrs
from markupsafe import Markup, escape

NODE_W, NODE_H = 180, 46
GAP_X, GAP_Y = 24, 44
PAD = 12


@attrs.frozen
class Node:
    id: str
    uses: str
    layer: int
    x: float
    y: float


def layers(steps) -> list[list]:
    """The steps (each with ``id`` and ``needs``) grouped by layer, each layer ordered to limit crossings."""
    by_id = {s.id: s for s in steps}
    depth: dict[str, int] = {}

    def layer_of(step_id: str) -> int:  # needs are acyclic: the validation refused cycles
        if step_id not in depth:
            needs = [n for n in by_id[step_id].needs if n in by_id]
            depth[step_id] = 1 + max((layer_of(n) for n in needs), default=-1)
        return depth[step_id]

    grouped: list[list] = []
    for step in steps:
        level = layer_of(step.id)
        while len(grouped) <= level:
            grouped.append([])
        grouped[level].append(step)
    position: dict[str, float] = {s.id: i for i, s in enumerate(grouped[0])} if grouped else {}
    for row in grouped[1:]:
        def mean_parent(step, row=row):
            places = [position[n] for n in step.needs if n in position]
            return sum(places) / len(places) if places else 0.0
        row.sort(key=mean_parent)  # stable: steps with equal parents keep the file's order
        position.update({s.id: i for i, s in enumerate(row)})
    return grouped


def layout(steps) -> tuple[list[Node], float, float]:
    """Nodes with their top-left corners, and the drawing's width and height."""
    grouped = layers(steps)
    widest = max((len(row) for row in grouped), default=0)
    width = PAD * 2 + widest * NODE_W + max(widest - 1, 0) * GAP_X
    nodes = []
    for level, row in enumerate(grouped):
        row_width = len(row) * NODE_W + (len(row) - 1) * GAP_X
        left = (width - row_width) / 2  # each layer centred under the widest
        for i, step in enumerate(row):
            nodes.append(Node(id=step.id, uses=step.uses, layer=level, x=left + i * (NODE_W + GAP_X),
                              y=PAD + level * (NODE_H + GAP_Y)))
    height = PAD * 2 + len(grouped) * NODE_H + max(len(grouped) - 1, 0) * GAP_Y
    return nodes, width, height


def _clip(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def svg(steps, *, label: str, graph_id: str = "steps") -> Markup:
    """The steps as an inline SVG; ``label`` names it (e.g. "Steps of intake"), the title elements
    give each box's full step id and component, and the description lists every arrow."""
    nodes, width, height = layout(steps)
    at = {n.id: n for n in nodes}
    parts = [(f'<svg class="graph" id="{escape(graph_id)}" viewBox="0 0 {width:g} {height:g}" width="{width:g}" '
             f'height="{height:g}" role="img" '
             f'aria-labelledby="{escape(graph_id)}-title {escape(graph_id)}-desc">'),
             f'<title id="{escape(graph_id)}-title">{escape(label)}</title>',
             f'<desc id="{escape(graph_id)}-desc">' + escape("; ".join(
                 f"{need} → {s.id}" for s in steps for need in s.needs if need in at)) + "</desc>",
             (f'<defs><marker id="{escape(graph_id)}-arrow" class="graph-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
             'markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>')]
    for step in steps:
        child = at[step.id]
        for need in step.needs:
            parent = at.get(need)
            if parent is None:
                continue
            x1, y1 = parent.x + NODE_W / 2, parent.y + NODE_H
            x2, y2 = child.x + NODE_W / 2, child.y
            middle = (y1 + y2) / 2
            parts.append(f'<path class="graph-edge" data-from="{escape(need)}" data-to="{escape(step.id)}" '
                         f'd="M{x1:g},{y1:g} C{x1:g},{middle:g} {x2:g},{middle:g} {x2:g},{y2:g}" '
                         f'marker-end="url(#{escape(graph_id)}-arrow)"/>')
    for node in nodes:
        parts.append(f'<g class="graph-node" data-step="{escape(node.id)}" transform="translate({node.x:g},{node.y:g})">'
                     f'<title>{escape(node.id)}: {escape(node.uses)}</title>'
                     f'<rect width="{NODE_W}" height="{NODE_H}" rx="6"/>'
                     f'<text class="graph-id" x="10" y="19">{escape(_clip(node.id))}</text>'
                     f'<text class="graph-uses" x="10" y="36">{escape(_clip(node.uses, 26))}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
