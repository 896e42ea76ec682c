"""A fault lists at most 100 children, then one that counts the rest, whoever builds it (issue 14).

A body of 740,000 unknown keys used to answer one child fault per key (142 MB, 9 s). The cap
lives in ``Fault`` itself, so it holds for every producer; validation also stops building
faults once the cap is reached and only counts the rest.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from opencortex import faults
from opencortex.faults import MAX_CHILD_FAULTS, Fault
from opencortex.model.definitions import ObjectDefinition
from opencortex.model.problems import Problems
from opencortex.model.validation import validate_create, validate_update

THING = ObjectDefinition.from_json(
    {
        "name": "c_thing",
        "label": "Thing",
        "properties": [
            {"name": "c_name", "label": "Name", "type": "String"},
            {"name": "c_tags", "label": "Tags", "type": "String", "array": True, "maxItems": 5},
            {"name": "c_last", "label": "Last", "type": "Number", "array": True, "maxItems": 2, "maxShift": True},
            {"name": "c_parts", "label": "Parts", "type": "Document", "array": True,
             "properties": [{"name": "c_label", "label": "Label", "type": "String"}]},
        ],
    }
)


def fault_of(action: Any, *args: Any, **kwargs: Any) -> Fault:
    with pytest.raises(Fault) as caught:
        action(*args, **kwargs)
    return caught.value


def children(fault: Fault) -> list[dict[str, Any]]:
    return list(fault.to_json()["faults"])


def test_a_fault_lists_100_children_and_counts_the_rest() -> None:
    many = [faults.invalid_value(f"bad {index}", path=f"c_{index}") for index in range(250)]
    listed = children(faults.validation_failed(faults=many))
    assert len(listed) == MAX_CHILD_FAULTS + 1
    assert [child["path"] for child in listed[:MAX_CHILD_FAULTS]] == [f"c_{index}" for index in range(100)]
    last = listed[-1]
    assert last["errCode"] == "cortex.invalidArgument.castError" and "path" not in last
    assert last["reason"].startswith("And 150 more, not listed")


def test_up_to_100_children_are_listed_as_they_are() -> None:
    exactly = [faults.required(path=f"c_{index}") for index in range(MAX_CHILD_FAULTS)]
    listed = children(faults.validation_failed(faults=exactly))
    assert len(listed) == MAX_CHILD_FAULTS and all("more, not listed" not in str(c) for c in listed)


def test_ten_thousand_unknown_keys_answer_101_children() -> None:
    body = {f"c_unknown_{index}": index for index in range(10_000)}
    fault = fault_of(validate_create, THING, {"c_name": "kept", **body})
    listed = children(fault)
    assert fault.err_code == "cortex.invalidArgument.validation"
    assert len(listed) == 101
    assert [child["path"] for child in listed[:100]] == [f"c_unknown_{index}" for index in range(100)]
    assert {child["errCode"] for child in listed} == {"cortex.notFound.property"}
    assert listed[-1]["reason"].startswith("And 9900 more")
    assert len(orjson.dumps(fault.to_json())) < 40_000


def test_faults_of_every_level_are_counted_together() -> None:
    """Children of a nested level (a document-array element) share the parent's 100."""
    element = {f"c_x{index}": 1 for index in range(150)}
    body = {f"c_top{index}": 1 for index in range(30)}
    fault = fault_of(validate_create, THING, {**body, "c_parts": [element, element]})
    listed = children(fault)
    assert len(listed) == 101
    assert listed[29]["path"] == "c_top29" and listed[30]["path"] == "c_parts[0].c_x0"
    assert listed[-1]["reason"].startswith(f"And {30 + 300 - 100} more")


def test_updates_are_capped_too() -> None:
    stored = validate_create(THING, {"c_name": "a"})
    fault = fault_of(validate_update, THING, stored, {f"c_u{index}": 1 for index in range(500)})
    assert len(children(fault)) == 101 and children(fault)[-1]["reason"].startswith("And 400 more")


def test_definition_faults_are_capped_too() -> None:
    options = {f"bogus{index}": True for index in range(300)}
    fault = fault_of(
        ObjectDefinition.from_json,
        {"name": "c_bad", "label": "Bad", "properties": [{"name": "c_a", "label": "A", "type": "String", **options}]},
    )
    listed = children(fault)
    assert len(listed) == 101 and listed[0]["path"] == "properties[0].bogus0"
    assert listed[-1]["errCode"] == "cortex.invalidArgument.unspecified"
    assert listed[-1]["reason"].startswith("And 200 more")


def test_problems_only_count_once_full() -> None:
    problems = Problems()
    for index in range(MAX_CHILD_FAULTS):
        problems.add(faults.required(path=f"c_{index}"))
    assert problems.full and problems.total == 100
    problems.count(faults.property_not_found, 5)
    problems.add(faults.required(path="c_late"))
    assert len(problems.faults) == 100 and problems.total == 106
    fault = fault_of(problems.raise_if_any)
    assert children(fault)[-1]["errCode"] == "cortex.notFound.property"  # the first one left out


def test_many_unknown_keys_build_no_fault_past_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation stops building faults at the cap and only counts the rest: 740,000 unknown
    keys build about a hundred faults (they built one each, 9 s with writing them out)."""
    built = 0
    real_init = Fault.__init__

    def counting_init(self: Fault, *args: Any, **kwargs: Any) -> None:
        nonlocal built
        built += 1
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(Fault, "__init__", counting_init)
    fault = fault_of(validate_create, THING, {f"c_k{index}": 0 for index in range(740_000)})
    text = orjson.dumps(fault.to_json())
    assert len(children(fault)) == 101 and b"And 739900 more" in text
    assert built < 110, built


def test_an_array_over_its_maximum_is_refused_without_checking_each_element() -> None:
    fault = fault_of(validate_create, THING, {"c_tags": [1] * 100_000})
    assert [(child["errCode"], child["path"]) for child in children(fault)] == [
        ("cortex.invalidArgument.maxAllowed", "c_tags")
    ]
    assert validate_create(THING, {"c_last": [1, 2, 3]})["c_last"] == [2, 3]  # maxShift still keeps the last
    shifted = fault_of(validate_create, THING, {"c_last": ["x"] * 150})
    assert len(children(shifted)) == 101 and children(shifted)[-1]["reason"].startswith("And 50 more")
