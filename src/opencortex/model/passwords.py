"""Password hashing with argon2id. Verification of an unknown account still costs one hash."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from opencortex import faults

MIN_LENGTH = 8
MAX_LENGTH = 256  # argon2 would accept more; a bound keeps hashing cost predictable

_hasher = PasswordHasher()
# Verified against when the email is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("opencortex-dummy-password")


def check_password_rules(password: str, path: str = "password") -> None:
    if not isinstance(password, str) or not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise faults.invalid_argument(
            f"A password is {MIN_LENGTH}-{MAX_LENGTH} characters.", path=path
        )


def hash_password(password: str) -> str:
    check_password_rules(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; with no hash, burns the same time and returns False."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
