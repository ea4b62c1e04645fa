"""Random tokens, keyed hashes of tokens, and encryption of secrets at rest."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from api.core.settings import Settings


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(settings: Settings, token: str) -> str:
    """HMAC-SHA256 of a token under the secret key: what is stored instead of the token.

    A leaked table holds no usable token, and nobody without the key can make a hash that matches.
    """
    key = settings.secret_key.get_secret_value().encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def key_derived_from(secret_key: str) -> bytes:
    """The Fernet key used when AIADMIN_ENCRYPTION_KEY is unset: derived from the secret key."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"aiadmin-encryption").derive(
        secret_key.encode()
    )
    return base64.urlsafe_b64encode(derived)


class Encryptor:
    """Fernet (AES-128-CBC + HMAC-SHA256) with the configured key, or one derived from the secret key."""

    def __init__(self, settings: Settings) -> None:
        if settings.encryption_key is not None:
            key = settings.encryption_key.get_secret_value().encode()
        else:
            key = key_derived_from(settings.secret_key.get_secret_value())
        self._fernet = Fernet(key)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("cannot decrypt: wrong AIADMIN_ENCRYPTION_KEY?") from exc
