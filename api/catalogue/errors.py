"""What the catalogue's admin side refuses, with the status and code each refusal carries."""

from __future__ import annotations

from api.core.errors import AppError, Conflict


class ModelExists(Conflict):
    code = "model_exists"


class ModelInUse(Conflict):
    code = "model_in_use"


class UnknownProvider(AppError):
    status_code = 422
    code = "unknown_provider"


class ProviderExists(Conflict):
    code = "provider_exists"


class InvalidHeader(AppError):
    status_code = 400
    code = "invalid_header"


class RoleExists(Conflict):
    code = "role_exists"


class UnknownModel(AppError):
    status_code = 422
    code = "unknown_model"


# Experiments (docs/decisions/0059)


class UnknownRole(AppError):
    status_code = 422
    code = "unknown_role"


class UnknownRoleVersion(AppError):
    status_code = 422
    code = "unknown_role_version"


class ModelDisabled(AppError):
    status_code = 422
    code = "model_disabled"


class IllegalTransition(Conflict):
    code = "experiment_illegal_transition"


class RoleHasRunningExperiment(Conflict):
    code = "experiment_already_running"


# Model aliases (docs/decisions/0062)


class AliasTaken(Conflict):
    """An alias named like a model, or a model named like an alias: a name means one thing."""

    code = "alias_taken"


class AliasInExperiment(Conflict):
    code = "alias_in_experiment"


class UnknownAlias(AppError):
    status_code = 422
    code = "unknown_alias"
