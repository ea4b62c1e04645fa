"""What the portal's page modules (tools, history) share with the app that mounts them: the API client, the
cookie keys, and the app's ways to render a page, run a signed-in page and word a refusal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from portal.api_client import ApiClient, ApiError, SignedInCaller
from portal.session import Keys


@dataclass(frozen=True, slots=True)
class Kit:
    api: ApiClient
    keys: Keys
    templates: Jinja2Templates
    # render(request, template, status=200, **context): a page in the request's language.
    render: Callable[..., Response]
    # cabinet(request, build): `build(user)` as the signed-in user (else the sign-in page).
    cabinet: Callable[[Request, Callable[[SignedInCaller], Response]], Response]
    # cabinet_form(request, csrf, build, change): a cabinet POST (CSRF, the change, the page again).
    cabinet_form: Callable[..., Response]
    language: Callable[[Request], str]
    refusal: Callable[[Request, ApiError], str]
    # The context every template gets (t, lang, csrf…), for fragments rendered outside `render`.
    context: Callable[[Request], dict[str, Any]]
