"""« Vocabulaire métier », run as its users would run it: a supervisor writes the list, an administrator reads
its history, every other role is refused."""

from __future__ import annotations

import pytest

from ccr.core.db import session
from ccr.speech import vocabulary
from tests.pages.helpers import refused, run_page

PAGE = "pages/vocabulary.py"


def _text(at) -> str:
    return "\n".join(str(getattr(e, "value", "")) for kind in ("markdown", "caption", "info", "warning", "success")
                     for e in getattr(at, kind))


def _save(at, text: str):
    at.text_area[0].input(text)
    next(b for b in at.button if b.label == "Enregistrer le vocabulaire").click().run()
    assert not at.exception
    return at


def test_a_supervisor_writes_the_list_and_sees_its_versions(tenants):
    a, b = tenants
    at = run_page(PAGE, a.users["supervisor"])
    assert not at.exception and not refused(at)
    assert "Aucun vocabulaire enregistré" in _text(at) and "un appel déjà transcrit ne change pas" in _text(at)
    _save(at, "Domivia\nSérénité Plus, Nadia\ndomivia")
    assert not at.error and "Version 1 enregistrée" in _text(at)
    assert "Version 1 en vigueur depuis le " in _text(at) and "3 terme(s)" in _text(at)
    assert at.text_area[0].value == "Domivia\nSérénité Plus\nNadia"  # what is stored, cleaned
    with session() as s:
        assert vocabulary.current_terms(session=s, org_id=a.org_id) == ["Domivia", "Sérénité Plus", "Nadia"]
        assert vocabulary.current_terms(session=s, org_id=b.org_id) == []

    _save(at, "Domivia\nSérénité Plus\nHugo")
    [table] = at.dataframe
    rows = table.value.to_dict("records")
    assert [(r["Version"], r["Par"], r["Termes"], r["Ajoutés"], r["Retirés"]) for r in rows] == [
        (2, "alpha supervisor", 3, "Hugo", "Nadia"),
        (1, "alpha supervisor", 3, "Domivia, Sérénité Plus, Nadia", ""),
    ]
    assert rows[0]["Enregistrée le"][2] == "/" and " à " in rows[0]["Enregistrée le"]  # 02/12/2026 à 14:05

    _save(at, "Domivia, Sérénité Plus, Hugo")
    assert "Aucun changement" in _text(at) and len(at.dataframe[0].value) == 2


def test_a_refused_list_shows_the_french_reason_and_stores_nothing(tenants):
    a, _ = tenants
    at = _save(run_page(PAGE, a.users["admin"]), "Domivia\n" + "x" * 61)
    assert [e.value for e in at.error] == ["Ligne 2 : 61 caractères, 60 au plus par terme (un nom, une marque ou "
                                           "une offre par ligne)."]
    with session() as s:
        assert vocabulary.current_terms(session=s, org_id=a.org_id) == []


def test_a_long_list_warns_that_its_tail_is_not_sent(tenants):
    a, _ = tenants
    at = _save(run_page(PAGE, a.users["admin"]), "\n".join(f"Marque numéro {i:03d}" for i in range(120)))
    assert not at.error
    sent = len(vocabulary.kept_terms([f"Marque numéro {i:03d}" for i in range(120)]))
    assert f"Seuls les {sent} premiers termes sont transmis au moteur" in _text(at)


def test_an_author_name_is_shown_as_text(tenants):
    from ccr.core.models import User

    a, _ = tenants
    with session() as s:
        user = s.get(User, a.users["supervisor"])
        user.display_name = "**Sophie** [lien](http://example.test)"
        s.add(user)
    at = _save(run_page(PAGE, a.users["supervisor"]), "Domivia")
    [info] = at.info
    assert "\\*\\*Sophie\\*\\* \\[lien\\]" in info.value  # escaped: shown as typed, never as markup or a link


@pytest.mark.parametrize("role", ["team_lead", "agent", "dpo"])
def test_other_roles_are_refused(tenants, role):
    a, _ = tenants
    at = run_page(PAGE, a.users[role])
    assert refused(at) and not at.text_area
