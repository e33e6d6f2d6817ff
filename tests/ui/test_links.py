"""Page links: the registered page's path and an escaped label, or a plain relative link when unresolved."""

from __future__ import annotations

import pytest
from streamlit.errors import StreamlitPageNotFoundError

from ccr.core.access import PAGE_BY_KEY
from ccr.ui import links


class FakeSt:
    """Records what ``page_link`` asks Streamlit to draw; ``resolve`` False mimics a page run on its own."""

    def __init__(self, resolve: bool = True) -> None:
        self.resolve, self.page_links, self.markdowns = resolve, [], []

    def page_link(self, path, **kw):
        if not self.resolve:
            raise StreamlitPageNotFoundError(path)
        self.page_links.append((path, kw))

    def markdown(self, body):
        self.markdowns.append(body)


@pytest.fixture
def fake(monkeypatch):
    st = FakeSt()
    monkeypatch.setattr(links, "st", st)
    return st


def test_links_to_the_registered_page_with_its_query(fake):
    links.page_link("review", "Voir la revue", query_params={"call_id": 12}, icon="🎧")
    assert fake.page_links == [(PAGE_BY_KEY["review"].path, {"label": "Voir la revue", "icon": "🎧",
                                                              "query_params": {"call_id": 12}})]
    assert fake.markdowns == []


def test_the_label_is_escaped(fake):
    links.page_link("calls", "[piège](javascript:x)")
    assert fake.page_links[0][1]["label"] == "\\[piège\\]\\(javascript\\:x\\)"


def test_an_unresolved_page_falls_back_to_a_relative_link_with_the_query(fake):
    fake.resolve = False
    links.page_link("review", "Revue *urgente*", query_params={"call_id": 12, "tab": "notes"})
    assert fake.markdowns == ["[Revue \\*urgente\\*](/review?call_id=12&tab=notes)"]


def test_the_fallback_has_no_query_string_without_parameters(fake):
    fake.resolve = False
    links.page_link("dashboard", "Tableau de bord")
    assert fake.markdowns == ["[Tableau de bord](/dashboard)"]


def test_an_unknown_page_key_is_an_error(fake):
    with pytest.raises(KeyError):
        links.page_link("inexistante", "x")
    assert fake.page_links == fake.markdowns == []
