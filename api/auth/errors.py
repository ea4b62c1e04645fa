from __future__ import annotations

from api.core.errors import AppError, Conflict, Forbidden, NotAuthenticated


class TooManyAttempts(AppError):
    status_code = 429
    code = "too_many_attempts"
    type = "rate_limit_error"


class EmailNotVerified(AppError):
    status_code = 403
    code = "email_not_verified"
    type = "permission_error"


class OtpRequired(NotAuthenticated):
    code = "otp_required"


class InvalidOtp(NotAuthenticated):
    code = "invalid_otp"


class InvalidRefreshToken(NotAuthenticated):
    code = "invalid_refresh_token"


class RefreshTokenReused(NotAuthenticated):
    code = "refresh_token_reused"


class InvalidLinkToken(AppError):
    status_code = 400
    code = "invalid_token"


class InvalidCurrentPassword(AppError):
    status_code = 400
    code = "invalid_current_password"


class TwoFactorRequired(AppError):
    status_code = 403
    code = "two_factor_required"
    type = "permission_error"


class TwoFactorAlreadyEnabled(Conflict):
    code = "two_factor_already_enabled"


class TwoFactorNotSetUp(Conflict):
    code = "two_factor_not_set_up"


class RegistrationClosed(Forbidden):
    code = "registration_closed"


class ReauthenticationRequired(Forbidden):
    """Changing the second factor needs the password (and a code when 2FA is on) in the same request."""

    code = "reauthentication_required"


class InvalidPassword(Forbidden):
    code = "invalid_password"
