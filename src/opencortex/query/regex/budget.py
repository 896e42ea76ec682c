"""The cost guard: refuse patterns whose matching costs too much per character, on any engine.

See the rules in ``regex/__init__``. Both engines that run our patterns (RE2 in this process,
PostgreSQL's ARE engine in the database) simulate an automaton: their work per character of
the value is bounded by the number of places in the pattern that can be active at once. The
width of a pattern counts those places, with each counted repetition written out.
"""

from __future__ import annotations

from opencortex import faults
from opencortex.query.regex.syntax import Anchor, Char, Flags, Group, RegexNode, Repeat

# At this width the worst values we found cost 2 to 3 us a character on RE2 and 1.5 to 2 us on
# PostgreSQL (``a.{254}-`` on random text of a and b); simple patterns cost 3 to 15 ns. It keeps
# ``{0,255}``, PostgreSQL's largest bound, usable on a single character or set.
MAX_WIDTH = 256


class Budget:
    """The cost rules of the module docstring."""

    def __init__(self, flags: Flags, path: str) -> None:
        self.flags, self.path = flags, path

    def fail(self, reason: str) -> faults.Fault:
        return faults.query_invalid(f"Regular expression too costly to run: {reason}.", path=self.path)

    def check_width(self, root: Group) -> None:
        if width(root) > MAX_WIDTH:
            raise self.fail(
                f"written out, its repetitions span more than {MAX_WIDTH} characters "
                "(a{n,m} counts m times, a{n,} n times)"
            )

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


def width(node: RegexNode) -> int:
    """How many places of ``node`` an automaton tracks: a character (or set) is one, an anchor
    none, alternatives add up, and a repetition counts its item as often as it is written out."""
    if isinstance(node, Anchor):
        return 0
    if isinstance(node, Group):
        return sum(width(item) for branch in node.branches for item in branch)
    if isinstance(node, Repeat):
        copies = node.max if node.max is not None else max(node.min, 1)
        return width(node.item) * copies
    return 1
