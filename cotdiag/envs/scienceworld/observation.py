"""Canonical order for ScienceWorld's object listings.

ScienceWorld lists the objects of a room (``In it, you see:``) in an order that changes from one
``load`` of the same task variation to the next (the order of the JVM's hash sets, not seeded), e.g.
``a wood cup (containing red paint)`` before or after ``... blue paint``. The nested lists it prints
inline (``On the table is: a battery, a black wire, ...``) are already alphabetical; this module
sorts the top-level lines the same way, so that an observation depends only on the task, the
variation and the actions played. Nothing else in the text changes.

Example:
    >>> sort_listings("In it, you see: \\n\\tthe agent\\n\\ta cup\\nYou also see:\\n\\tA door")
    'In it, you see: \\n\\ta cup\\n\\tthe agent\\nYou also see:\\n\\tA door'
"""

from __future__ import annotations

_MARK = "you see:"


def sort_listings(text: str) -> str:
    """Sort the tab-indented item lines after each line ending in ``you see:``.

    Lines indented by two or more tabs stay attached to the item line above them.

    Args:
        text: a ScienceWorld observation.

    Returns:
        ``text`` with every listing block in lexicographic order (unchanged when it has none).
    """
    if _MARK not in text:
        return text
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        out.append(line)
        i += 1
        if not line.rstrip().endswith(_MARK):
            continue
        groups: list[list[str]] = []
        while i < len(lines) and lines[i].startswith("\t"):
            if lines[i].startswith("\t\t") and groups:
                groups[-1].append(lines[i])
            else:
                groups.append([lines[i]])
            i += 1
        for g in sorted(groups):
            out.extend(g)
    return "\n".join(out)
