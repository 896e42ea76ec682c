"""``paths[]`` over a JSON document that no object definition describes (an export record, a Logs
record): keep ``_id``, ``object`` and the subtree of each dotted path, through nested documents
and arrays of them, in the document's own key order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ALWAYS = ("_id", "object")

# name -> None (the whole value) or the tree of the paths below it
Tree = dict[str, "Tree | None"]


def project(document: Mapping[str, Any], paths: Sequence[Sequence[str]]) -> dict[str, Any]:
    """The document with only ``_id``, ``object`` and ``paths`` (each a tuple of its parts)."""
    tree: Tree = {name: None for name in ALWAYS}
    for parts in paths:
        _add(tree, list(parts))
    return _apply(document, tree)


def _add(tree: Tree, parts: list[str]) -> None:
    node = tree
    for depth, part in enumerate(parts):
        if depth == len(parts) - 1:
            node[part] = None
            return
        child = node.get(part, {})
        if child is None:
            return  # the whole value is kept already
        node[part] = child
        node = child


def _apply(value: Mapping[str, Any], tree: Tree) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in tree:
            continue
        below = tree[key]
        if below is None:
            out[key] = item
        elif isinstance(item, Mapping):
            out[key] = _apply(item, below)
        elif isinstance(item, list):
            out[key] = [_apply(element, below) for element in item if isinstance(element, Mapping)]
    return out
