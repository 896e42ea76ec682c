"""The cost guard: refuse patterns that a backtracking engine could take too long on.

See the rules in ``regex/__init__``. Work is estimated as ``ways x n ** degree`` for a value
of length ``n``: each open-ended repetition adds one to the degree (and trying every start
position one more), and bounded choices multiply the ways.
"""

from __future__ import annotations

from opencortex import faults
from opencortex.query.regex.syntax import Anchor, Char, Flags, Group, RegexNode, Repeat

WIDE_RANGE = 16  # a {n,m} with more choices than this counts as open-ended
MAX_DEGREE = 2
MAX_WAYS = 64


def drop_neutral_ends(root: Group) -> None:
    """Remove leading/trailing optional repeats of a single-branch pattern (see the module doc)."""
    if len(root.branches) != 1:
        return
    items = root.branches[0]
    while items and isinstance(items[0], Repeat) and items[0].min == 0:
        items.pop(0)
    while items and isinstance(items[-1], Repeat) and items[-1].min == 0:
        items.pop()


class Budget:
    """The cost rules of the module docstring."""

    def __init__(self, flags: Flags, path: str) -> None:
        self.flags, self.path = flags, path

    def fail(self, reason: str) -> faults.Fault:
        return faults.query_invalid(f"Regular expression too costly to run: {reason}.", path=self.path)

    def check_repeats(self, node: RegexNode) -> None:
        """Every repeated part follows the rules for repeated groups."""
        if isinstance(node, Repeat):
            if node.max is None or node.max > 1:
                if self.can_be_empty(node.item):
                    raise self.fail("a repeated part must not be able to match nothing")
                self.check_inside_repeat(node.item)
            self.check_repeats(node.item)
        elif isinstance(node, Group):
            for branch in node.branches:
                for item in branch:
                    self.check_repeats(item)

    def check_cost(self, root: Group) -> None:
        degree, ways = self.cost(root)
        anchored = (
            len(root.branches) == 1
            and bool(root.branches[0])
            and isinstance(root.branches[0][0], Anchor)
            and root.branches[0][0].kind == "^"
            and not self.flags.multiline
        )
        if degree + (0 if anchored else 1) > MAX_DEGREE:
            raise self.fail("use at most one open-ended repetition (*, +, {n,}) or two after a leading ^")
        if ways > MAX_WAYS:
            raise self.fail(f"optional parts and alternatives allow more than {MAX_WAYS} combinations")

    def cost(self, node: RegexNode) -> tuple[int, int]:
        """(degree, ways) of ``node``: sequences add degrees and multiply ways, alternatives add ways."""
        if isinstance(node, Group):
            costs = [self.sequence_cost(branch) for branch in node.branches]
            ways = max(w for _, w in costs) if self.deterministic(node) else sum(w for _, w in costs)
            return max(d for d, _ in costs), ways
        if isinstance(node, Repeat):
            degree, ways = self.cost(node.item)
            if node.max is None or node.max - node.min > WIDE_RANGE:
                return degree + 1, ways
            return degree, ways * (node.max - node.min + 1)
        return 0, 1

    def sequence_cost(self, items: list[RegexNode]) -> tuple[int, int]:
        degree, ways = 0, 1
        for item in items:
            item_degree, item_ways = self.cost(item)
            degree, ways = degree + item_degree, min(ways * item_ways, MAX_WAYS + 1)
        return degree, ways

    def check_inside_repeat(self, node: RegexNode) -> None:
        if isinstance(node, Repeat):
            raise self.fail("a repeated group may not contain another quantifier, as in (a+)+")
        if isinstance(node, Group):
            if not self.deterministic(node):
                raise self.fail("the alternatives of a repeated group must start with different characters")
            for branch in node.branches:
                for item in branch:
                    self.check_inside_repeat(item)

    def deterministic(self, group: Group) -> bool:
        """True when at most one alternative can start matching at any position."""
        if len(group.branches) == 1:
            return True
        firsts = []
        for branch in group.branches:
            if not branch or not isinstance(branch[0], Char):
                return False
            char = branch[0].char
            firsts.append(char.lower() if self.flags.ignore_case and char.isascii() else char)
        return len(set(firsts)) == len(firsts)

    def can_be_empty(self, node: RegexNode) -> bool:
        if isinstance(node, Anchor):
            return True
        if isinstance(node, Repeat):
            return node.min == 0 or self.can_be_empty(node.item)
        if isinstance(node, Group):
            return any(all(self.can_be_empty(item) for item in branch) for branch in node.branches)
        return False
