"""Which role may open which page: the one table used by the navigation, the page guard and the tests."""

from __future__ import annotations

from dataclasses import dataclass

PUBLIC = "public"  # open to everyone, logged in or not


@dataclass(frozen=True)
class PageSpec:
    """A page of the app: its file, French title, emoji icon and the roles that may open it."""

    key: str
    path: str
    title: str
    icon: str
    roles: frozenset[str]
    section: str


def _roles(*names: str) -> frozenset[str]:
    return frozenset(names)


# Order matters: it is the order of the navigation menu. Emoji icons only: ":material/...:" icons make
# the browser fetch a font from a third-party host.
PAGES: tuple[PageSpec, ...] = (
    PageSpec("home", "pages/home.py", "Accueil", "🏠", _roles("admin", "dpo", "supervisor", "team_lead"), "CCR"),
    PageSpec("users", "pages/users.py", "Utilisateurs", "👥", _roles("admin"), "Administration"),
)

PAGE_BY_KEY = {p.key: p for p in PAGES}


def allowed(page_key: str, role: str | None) -> bool:
    """True when ``role`` (None = anonymous) may open the page."""
    spec = PAGE_BY_KEY[page_key]
    return PUBLIC in spec.roles or (role is not None and role in spec.roles)


def pages_for(role: str | None) -> list[PageSpec]:
    """Pages listed in the navigation of ``role`` (None = anonymous)."""
    return [p for p in PAGES if allowed(p.key, role)]
