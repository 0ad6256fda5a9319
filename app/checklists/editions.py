"""What changed between two versions of a checklist: items added, removed, regraded, re-based."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ChecklistDiff:
    """The item-level changes from one checklist version to another, codes in file order."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: (code, old grade, new grade)
    regraded: list[tuple[str, str, str]] = field(default_factory=list)
    #: (code, old basis, new basis), each as "document（number）article"
    rebased: list[tuple[str, str, str]] = field(default_factory=list)
    #: codes whose check text, category, answer or range changed
    reworded: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        """Return True when no item changed."""
        return not (self.added or self.removed or self.regraded or self.rebased or self.reworded)


def basis_label(item: dict[str, Any]) -> str:
    """Name an item's basis: document, number and article."""
    b = item["basis"]
    number = f"（{b['number']}）" if b["number"] else ""
    return f"《{b['document']}》{number}{b['article']}"


_CHECK_FIELDS = ("text", "category", "answer", "unit", "min", "max", "requires_photo")


def diff_contents(old: dict[str, Any], new: dict[str, Any]) -> ChecklistDiff:
    """Compare the items of two checklist contents by code."""
    before = {i["code"]: i for i in old["items"]}
    after = {i["code"]: i for i in new["items"]}
    diff = ChecklistDiff(
        added=[c for c in after if c not in before],
        removed=[c for c in before if c not in after],
    )
    for code, item in after.items():
        was = before.get(code)
        if was is None:
            continue
        if was["grade"] != item["grade"]:
            diff.regraded.append((code, was["grade"], item["grade"]))
        if basis_label(was) != basis_label(item):
            diff.rebased.append((code, basis_label(was), basis_label(item)))
        if any(was.get(f) != item.get(f) for f in _CHECK_FIELDS):
            diff.reworded.append(code)
    return diff


def render_diff(industry: str, v1: int, v2: int, diff: ChecklistDiff) -> list[str]:
    """Return the lines `fieldsafe checklists diff` prints."""
    lines = [f"{industry} v{v1} → v{v2}"]
    if diff.is_empty():
        return [*lines, "no item changed"]
    lines += [f"added {code}" for code in diff.added]
    lines += [f"removed {code}" for code in diff.removed]
    lines += [f"regraded {code}: {a} → {b}" for code, a, b in diff.regraded]
    lines += [f"re-based {code}: {a} → {b}" for code, a, b in diff.rebased]
    lines += [f"reworded {code}" for code in diff.reworded]
    return lines
