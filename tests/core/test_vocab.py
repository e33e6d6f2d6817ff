"""The shared vocabulary: every code has exactly one French label, and the modules speak only these codes."""

from __future__ import annotations

import pytest

from ccr.core import vocab
from ccr.core.access import ACTIONS, PAGES, PUBLIC
from ccr.pipeline.ingest import DIRECTION_ALIASES


@pytest.mark.parametrize(("codes", "labels"), [
    (vocab.CALL_STATUSES, vocab.CALL_STATUS_LABELS), (vocab.DIRECTIONS, vocab.DIRECTION_LABELS),
    (vocab.ROLES, vocab.ROLE_LABELS), (vocab.VERDICTS, vocab.VERDICT_LABELS), (vocab.SPEAKERS, vocab.SPEAKER_LABELS),
])
def test_every_code_has_one_non_empty_french_label_and_no_label_lacks_a_code(codes, labels):
    assert list(labels) == list(codes)
    assert all(label.strip() for label in labels.values())
    assert len(set(labels.values())) == len(labels)  # two codes never read the same on screen


def test_the_import_aliases_only_ever_produce_a_known_direction():
    assert set(DIRECTION_ALIASES.values()) == set(vocab.DIRECTIONS)
    assert all(DIRECTION_ALIASES[code] == code for code in vocab.DIRECTIONS)


def test_pages_and_actions_name_only_known_roles():
    for spec in PAGES:
        assert spec.roles <= {*vocab.ROLES, PUBLIC}, spec.key
    for action, roles in ACTIONS.items():
        assert roles and roles <= set(vocab.ROLES), action
