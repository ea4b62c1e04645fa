from __future__ import annotations

from fastapi import APIRouter

from api.core.deps import CurrentAccount
from api.core.errors import AccountBlocked, NotAuthenticated, responses
from api.users.schemas import AccountOut

router = APIRouter(prefix="/api/v1", tags=["me"])


@router.get("/me", response_model=AccountOut, responses=responses(NotAuthenticated, AccountBlocked))
async def me(account: CurrentAccount) -> AccountOut:
    return AccountOut.model_validate(account)
