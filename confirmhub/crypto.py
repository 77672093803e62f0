"""Encryption at rest for secrets we must be able to read back (provider keys, SMS codes)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from confirmhub.errors import ConfirmhubError


class SecretsKeyMissing(ConfirmhubError):
    """A secret must be stored but ``CONFIRMHUB_SECRETS_KEY`` is not set."""


class SecretsBox:
    """Encrypts and decrypts short secrets with the Fernet key from the settings."""

    def __init__(self, key: SecretStr | None) -> None:
        self._fernet = None if key is None else Fernet(key.get_secret_value().encode())

    @property
    def available(self) -> bool:
        """Whether a key is configured."""
        return self._fernet is not None

    def encrypt(self, plaintext: str) -> bytes:
        """Encrypt; SecretsKeyMissing without a key."""
        if self._fernet is None:
            raise SecretsKeyMissing("set CONFIRMHUB_SECRETS_KEY to store secrets")
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        """Decrypt; SecretsKeyMissing without a key or with the wrong one."""
        if self._fernet is None:
            raise SecretsKeyMissing("set CONFIRMHUB_SECRETS_KEY to read stored secrets")
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken as exc:
            raise SecretsKeyMissing("stored secret does not decrypt with this key") from exc

    @staticmethod
    def generate_key() -> str:
        """A fresh key for ``CONFIRMHUB_SECRETS_KEY``."""
        return Fernet.generate_key().decode()
