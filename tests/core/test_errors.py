"""The one error hierarchy: every CCR error is a CcrError whose str() is the user-facing message."""

from __future__ import annotations

import inspect

import pytest

from ccr.core import errors
from ccr.core.errors import (
    AccessDenied,
    AudioError,
    CcrError,
    ConfigError,
    InvalidInput,
    LockedOut,
    NotFound,
    RateLimited,
    ScoringError,
    TranscriptionError,
    Unauthenticated,
)

ALL = [ConfigError, AccessDenied, NotFound, InvalidInput, AudioError, TranscriptionError, ScoringError, LockedOut,
       Unauthenticated, RateLimited]


def test_every_error_class_of_the_module_derives_from_ccr_error():
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, BaseException) and c.__module__ == errors.__name__]
    assert set(classes) == {CcrError, *ALL}
    assert all(issubclass(c, CcrError) for c in classes)
    assert issubclass(CcrError, Exception)  # caught by `except Exception`, unlike a BaseException


def test_every_class_is_listed_in_the_module_docstring():
    for cls in ALL:
        assert f":class:`{cls.__name__}`" in errors.__doc__


@pytest.mark.parametrize(("child", "parent"), [(AudioError, InvalidInput), (LockedOut, AccessDenied)])
def test_specialised_errors_are_caught_by_their_general_kind(child, parent):
    with pytest.raises(parent):
        raise child("Fichier audio illisible.")


def test_str_is_the_message_and_the_detail_stays_apart():
    err = NotFound("Appel introuvable.", detail="call 12 belongs to org 3")
    assert str(err) == "Appel introuvable."
    assert err.message == "Appel introuvable."
    assert err.detail == "call 12 belongs to org 3"
    assert "org 3" not in str(err)
    assert err.args == ("Appel introuvable.",)


def test_detail_defaults_to_none_and_is_keyword_only():
    assert ConfigError("Clé secrète par défaut.").detail is None
    with pytest.raises(TypeError):
        ConfigError("message", "detail")  # type: ignore[misc]

