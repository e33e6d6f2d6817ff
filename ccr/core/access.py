"""Which role may open which page and do which action: the tables used by the navigation, the page guard,
the data functions' server-side checks and the tests."""

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
    # An agent's only page: their published evaluations, disputes and export.
    PageSpec("my_evaluations", "pages/my_evaluations.py", "Mes évaluations", "🗂️", _roles("agent"), "Mon espace"),
    PageSpec("dashboard", "pages/dashboard.py", "Tableau de bord", "📊", _roles("team_lead", "supervisor", "admin"),
             "Qualité"),
    PageSpec("calls", "pages/calls.py", "Appels", "📞", _roles("team_lead", "supervisor", "admin"), "Qualité"),
    PageSpec("review", "pages/review.py", "Revue d'appel", "🎧", _roles("supervisor", "admin", "team_lead"), "Qualité"),
    PageSpec("to_review", "pages/to_review.py", "À revoir", "📝", _roles("supervisor", "admin"), "Qualité"),
    PageSpec("disputes", "pages/disputes.py", "Contestations", "⚖️", _roles("supervisor", "admin"), "Qualité"),
    PageSpec("calibration", "pages/calibration.py", "Calibration", "🎯", _roles("supervisor", "admin"), "Qualité"),
    PageSpec("grids", "pages/grids.py", "Grilles", "📐", _roles("supervisor", "admin"), "Qualité"),
    PageSpec("fairness", "pages/fairness.py", "Équité des scores", "🧮", _roles("supervisor", "dpo", "admin"),
             "Qualité"),
    PageSpec("import", "pages/import_calls.py", "Import", "📥", _roles("supervisor", "admin"), "Appels"),
    # After Import: a page set once and rarely opened must not push the daily Import behind « View more ».
    PageSpec("vocabulary", "pages/vocabulary.py", "Vocabulaire métier", "🔤", _roles("supervisor", "admin"), "Appels"),
    PageSpec("users", "pages/users.py", "Utilisateurs", "👥", _roles("admin"), "Administration"),
    PageSpec("data_protection", "pages/data_protection.py", "Protection des données", "🛡️", _roles("dpo", "admin"),
             "Administration"),
    # The administrator sets what is analysed; the DPO reads it and checks that analysis stays occasional.
    PageSpec("scope", "pages/scope.py", "Périmètre d'évaluation", "🧭", _roles("admin", "dpo"), "Administration"),
    PageSpec("ai_act", "pages/ai_act.py", "Conformité IA", "📜", _roles("dpo", "admin"), "Administration"),
    # The DPO reads the data breaches there (read-only) and exports them; the administrator keeps the register.
    PageSpec("incidents", "pages/incidents.py", "Incidents & support", "🚨", _roles("admin", "dpo"), "Administration"),
    PageSpec("integrations", "pages/integrations.py", "Intégrations", "🔌", _roles("admin"), "Administration"),
    PageSpec("privacy", "pages/privacy.py", "Confidentialité", "🔒", frozenset({PUBLIC}), "Informations"),
    PageSpec("cookies", "pages/cookies.py", "Cookies", "🍪", frozenset({PUBLIC}), "Informations"),
    PageSpec("agent_notice", "pages/agent_notice.py", "Information des agents", "🧑‍💼", frozenset({PUBLIC}),
             "Informations"),
)

PAGE_BY_KEY = {p.key: p for p in PAGES}


# Who may do what beyond reading a page: each data function checks its action here, on the server side,
# whatever page or command called it.
ACTIONS: dict[str, frozenset[str]] = {
    "import_calls": _roles("supervisor", "admin"),
    "manage_queue": _roles("supervisor", "admin"),  # retry failed calls, re-score with another grid
    "manage_agents": _roles("supervisor", "admin"),
    "edit_grids": _roles("supervisor", "admin"),
    "read_grids": _roles("supervisor", "admin", "team_lead", "dpo"),
    "edit_vocabulary": _roles("supervisor", "admin"),  # the names given to the recogniser: read and changed
    # Team leads read their teams' calls and coach from them; validating a review is the supervisors' work.
    # The DPO handles data, not quality.
    "read_reviews": _roles("supervisor", "admin", "team_lead"),
    "validate_reviews": _roles("supervisor", "admin"),
    "review_queue": _roles("supervisor", "admin"),
    "export_data": _roles("dpo", "admin"),
    "manage_retention": _roles("dpo", "admin"),
    "data_subjects": _roles("dpo", "admin"),
    "schedule_maintenance": _roles("admin"),
    "write_incidents": _roles("admin"),
    "read_breaches": _roles("admin", "dpo"),
    # An agent reads, acknowledges, contests and exports their own published evaluations, nothing else.
    "own_evaluations": _roles("agent"),
    "publish_evaluations": _roles("supervisor", "admin"),
    "resolve_disputes": _roles("supervisor", "admin"),
    "calibrate": _roles("supervisor", "admin"),
    "quality_policy": _roles("admin"),
    # Governance: the admin decides what is analysed, the DPO checks it and publishes the notices.
    "scope_policy": _roles("admin"),
    "scope_report": _roles("admin", "dpo"),
    "request_evaluation": _roles("supervisor", "admin"),
    "agent_groups": _roles("admin"),
    "deployer_pack": _roles("dpo", "admin"),
    "publish_notices": _roles("dpo", "admin"),
    "fairness_audit": _roles("supervisor", "dpo", "admin"),
    "manage_api": _roles("admin"),  # API tokens, the webhook and its delivery log
}


def may(role: str | None, action: str) -> bool:
    """True when ``role`` may perform ``action`` (a key of :data:`ACTIONS`)."""
    return role is not None and role in ACTIONS[action]


def allowed(page_key: str, role: str | None) -> bool:
    """True when ``role`` (None = anonymous) may open the page."""
    spec = PAGE_BY_KEY[page_key]
    return PUBLIC in spec.roles or (role is not None and role in spec.roles)


def pages_for(role: str | None) -> list[PageSpec]:
    """Pages listed in the navigation of ``role`` (None = anonymous)."""
    return [p for p in PAGES if allowed(p.key, role)]
