"""The one error hierarchy of CCR.

Every error raised on purpose by ``ccr`` is a :class:`CcrError`; its message is
written in plain French because pages show it to the user as is (``st.error``).
Anything that is not a ``CcrError`` is a bug and must surface.

- :class:`ConfigError`      a setting is missing or unsafe (e.g. a default secret key).
- :class:`AccessDenied`     the acting user may not do this (role, organisation, team).
- :class:`NotFound`         the record does not exist *for this tenant* (never says more).
- :class:`InvalidInput`     user input is wrong: a form, a CSV line, a grid, a transcript.
- :class:`AudioError`       an uploaded file cannot be decoded or breaks a limit.
- :class:`TranscriptionError` a transcription engine failed.
- :class:`ScoringError`     a scorer failed (LLM call, invalid answer).
- :class:`LockedOut`        an account is locked after too many failed logins.
- :class:`Unauthenticated`  an API token is missing, unknown, revoked or expired (HTTP 401).
- :class:`RateLimited`      a client sent too many requests (HTTP 429, with the wait).
"""

from __future__ import annotations


class CcrError(Exception):
    """Base of every error CCR raises on purpose; ``str(err)`` is user-facing French."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class ConfigError(CcrError):
    """A setting is missing, invalid or unsafe."""


class AccessDenied(CcrError):
    """The acting user lacks the role, organisation or team for this action."""


class NotFound(CcrError):
    """The record does not exist for the acting tenant."""


class InvalidInput(CcrError):
    """User-provided data (form, CSV, grid, transcript) is invalid."""


class AudioError(InvalidInput):
    """An audio file cannot be decoded or breaks a configured limit."""


class TranscriptionError(CcrError):
    """A transcription engine failed on a file that decoded fine."""


class ScoringError(CcrError):
    """A scoring engine failed (e.g. the LLM endpoint or its answer)."""


class LockedOut(AccessDenied):
    """The account is temporarily locked after repeated failed logins."""


class Unauthenticated(CcrError):
    """A machine client's credential (API token) is missing, unknown, revoked or expired."""


class RateLimited(CcrError):
    """Too many requests from one client: it may try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Trop de requêtes : réessayez dans {retry_after} s.")
        self.retry_after = retry_after
