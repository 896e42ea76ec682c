"""Applying a de-identification profile to exported documents, before any format sees them.

``Deidentifier.apply`` changes a batch of serialised documents in place: each rule's path is
followed through documents and arrays (every element), and its action applied where it ends.
When ``_id`` is hashed, every other text of the document that holds the original ``_id`` (a
facet's path, a URL) gets the hashed one too, so the original never reaches the archive: file
entry names are made from the hashed document afterwards.

Hashes are HMAC-SHA256 under the profile's key, of the value's compact JSON (so ``"5"`` and ``5``
differ, and a reference's ``_id`` hashes as the ``_id`` it refers to). The date shift of an
instance is derived from the keyed hash of its original ``_id``: the same for every date of the
instance, in every export with the same profile.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from opencortex import faults
from opencortex.clock import iso
from opencortex.exports.deidentify.rules import (
    DATE_TO_YEAR,
    DROP,
    HASH,
    SHIFT_DATE,
    TRUNCATE,
    ProfileSettings,
    Rule,
)

ID_KEY = "_id"
_YEAR = re.compile(r"^(\d{4})-\d{2}-\d{2}")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHIFT_PURPOSE = b"opencortex.dateShift\x00"


class Deidentifier:
    """A profile's rules for one export, with the profile's key (which never leaves this object)."""

    def __init__(self, name: str, version: int, settings: ProfileSettings, key: bytes, object_name: str) -> None:
        self.name = name
        self.version = version
        self.settings = settings
        self.rules = settings.rules_for(object_name)
        self._key = key
        self._length = settings.hash_length
        self._actions = {rule.path: rule.action for rule in self.rules}
        self._hashes_id = self._actions.get(ID_KEY) == HASH
        self._shifts = any(rule.action == SHIFT_DATE for rule in self.rules)

    def __repr__(self) -> str:  # never print the key
        return f"Deidentifier({self.name!r}, version={self.version})"

    def action_at(self, path: str) -> str | None:
        """The action a rule applies at exactly ``path`` (what ODM's metadata says about the value)."""
        return self._actions.get(path)

    def hash_value(self, value: Any) -> str:
        digest = hmac.new(self._key, orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS), hashlib.sha256)
        return digest.hexdigest()[: self._length]

    def shift_days(self, instance_id: Any) -> int:
        """The instance's date offset: in ``dateShift``, from the keyed hash of its ``_id``."""
        digest = hmac.new(self._key, _SHIFT_PURPOSE + str(instance_id).encode(), hashlib.sha256).digest()
        low, high = self.settings.date_shift
        return low + int.from_bytes(digest[:8], "big") % (high - low + 1)

    def apply(self, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``documents``, de-identified in place."""
        for document in documents:
            original = document.get(ID_KEY)
            days = self.shift_days(original) if self._shifts else 0
            for rule in self.rules:
                self._walk(document, rule.parts, rule, days, original)
            if self._hashes_id and isinstance(original, str) and original:
                _replace_text(document, original, str(document.get(ID_KEY)))
        return documents

    def apply_one(self, document: dict[str, Any]) -> dict[str, Any]:
        return self.apply([document])[0]

    def _walk(self, value: Any, parts: tuple[str, ...], rule: Rule, days: int, instance: Any) -> None:
        """Applies ``rule`` where ``parts`` ends, through documents and every array element."""
        if isinstance(value, list):
            for element in value:
                self._walk(element, parts, rule, days, instance)
            return
        if not isinstance(value, dict) or parts[0] not in value:
            return
        if len(parts) > 1:
            self._walk(value[parts[0]], parts[1:], rule, days, instance)
            return
        key = parts[0]
        if rule.action == DROP:
            del value[key]
            return
        found = value[key]
        if isinstance(found, list):
            value[key] = [self._value(element, rule, days, instance) for element in found]
        else:
            value[key] = self._value(found, rule, days, instance)

    def _value(self, value: Any, rule: Rule, days: int, instance: Any) -> Any:
        if value is None:
            return None
        action = rule.action
        if action == HASH:
            if isinstance(value, dict) and ID_KEY in value:  # a reference: its _id, and its path
                reference = dict(value)
                hashed = self.hash_value(value[ID_KEY])
                if isinstance(reference.get("path"), str):
                    reference["path"] = reference["path"].replace(str(value[ID_KEY]), hashed)
                reference[ID_KEY] = hashed
                return reference
            if isinstance(value, dict | list):
                raise _cannot(rule, instance, "a value with parts: name the parts instead")
            return self.hash_value(value)
        if action == TRUNCATE:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise _cannot(rule, instance, "not text or a number")
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            return text[: rule.keep]
        if not isinstance(value, str):
            raise _cannot(rule, instance, "not a date")
        if action == DATE_TO_YEAR:
            match = _YEAR.match(value)
            if match is None:
                raise _cannot(rule, instance, "not a date")
            return match.group(1)
        assert action == SHIFT_DATE
        return _shifted(value, days, rule, instance)


def _shifted(value: str, days: int, rule: Rule, instance: Any) -> str:
    try:
        if _DATE_ONLY.match(value):
            return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")) + timedelta(days=days)
    except ValueError:
        raise _cannot(rule, instance, "not a date") from None
    return (iso(moment) or "") if value.endswith("Z") else moment.isoformat()


def _replace_text(document: dict[str, Any], original: str, hashed: str) -> None:
    """Every text of a document holding ``original`` gets ``hashed`` instead, in place. Most
    documents hold it nowhere else: their JSON text says so at C speed, without a walk."""
    if original.encode() in orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS):
        _replace_in(document, original, hashed)


def _replace_in(value: Any, original: str, hashed: str) -> Any:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                if original in item:
                    value[key] = item.replace(original, hashed)
            elif isinstance(item, dict | list):
                _replace_in(item, original, hashed)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                if original in item:
                    value[index] = item.replace(original, hashed)
            elif isinstance(item, dict | list):
                _replace_in(item, original, hashed)
    return value


def _cannot(rule: Rule, instance: Any, why: str) -> faults.Fault:
    """The export fails rather than let a value through that a rule could not change (the
    value itself is never quoted)."""
    return faults.invalid_argument(
        f"The de-identification rule {rule.action} {rule.path!r} cannot apply to instance {instance}: {why}.",
        path="deidentify")
