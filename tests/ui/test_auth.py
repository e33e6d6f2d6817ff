"""The re-login cookie's writer replaces two methods of streamlit-authenticator: these tests fail when an
upgrade of the library would write or delete the cookie some other way, and CCR's writer would miss it."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect


def _cookie_manager_calls() -> dict[str, list[str]]:
    from streamlit_authenticator.models import cookie_model

    calls: dict[str, list[str]] = {}
    for node in ast.walk(ast.parse(inspect.getsource(cookie_model))):
        if isinstance(node, ast.FunctionDef):
            found = [ast.unparse(c.func) for c in ast.walk(node)
                     if isinstance(c, ast.Call) and "cookie_manager" in ast.unparse(c.func)]
            if found:
                calls[node.name] = found
    return calls


def test_the_library_writes_the_cookie_only_in_the_two_methods_ccr_replaces():
    assert importlib.metadata.version("streamlit-authenticator") == "0.4.2"
    assert _cookie_manager_calls() == {"set_cookie": ["self.cookie_manager.set"],
                                       "delete_cookie": ["self.cookie_manager.delete"]}


def test_the_authenticator_ccr_builds_routes_every_cookie_write_to_the_page_writer(migrated):
    from datetime import UTC, datetime

    from ccr.ui import auth

    authenticator, _ = auth._build_authenticator(datetime.now(UTC))
    model = authenticator.cookie_controller.cookie_model
    assert model.set_cookie.func is auth._write_cookie and model.delete_cookie.func is auth._delete_cookie
    assert isinstance(model.cookie_manager, auth._NoCookieComponent)  # no iframe, so no rerun after a load
