"""Encryption at rest for secrets we must be able to read back (provider keys, SMS codes).

``CONFIRMHUB_SECRETS_KEY`` holds one Fernet key or a comma-separated list of them: the first
encrypts, every one decrypts. Rotating is putting a new key first, re-encrypting what is
stored (``confirmhub secrets rotate``), then dropping the old key.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from confirmhub.errors import ConfirmhubError


class SecretsKeyMissing(ConfirmhubError):
    """A secret must be stored but ``CONFIRMHUB_SECRETS_KEY`` is not set."""


def fernet_keys(value: str) -> list[Fernet]:
    """The keys of a comma-separated list, first (the encrypting one) first; ValueError if
    any is not a Fernet key or the list is empty."""
    keys = [Fernet(part.strip().encode()) for part in value.split(",") if part.strip()]
    if not keys:
        raise ValueError("no key")
    return keys


class SecretsBox:
    """Encrypts and decrypts short secrets with the Fernet keys from the settings."""

    def __init__(self, key: SecretStr | None) -> None:
        keys = None if key is None else fernet_keys(key.get_secret_value())
        self._current = None if keys is None else keys[0]
        self._fernet = None if keys is None else MultiFernet(keys)

    @property
    def available(self) -> bool:
        """Whether a key is configured."""
        return self._fernet is not None

    def encrypt(self, plaintext: str) -> bytes:
        """Encrypt with the first key; SecretsKeyMissing without a key."""
        if self._fernet is None:
            raise SecretsKeyMissing("set CONFIRMHUB_SECRETS_KEY to store secrets")
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        """Decrypt with any key; SecretsKeyMissing without a key or with none that fits."""
        if self._fernet is None:
            raise SecretsKeyMissing("set CONFIRMHUB_SECRETS_KEY to read stored secrets")
        try:
            return self._fernet.decrypt(ciphertext).decode()
        except InvalidToken as exc:
            raise SecretsKeyMissing("stored secret does not decrypt with this key") from exc

    def is_current(self, ciphertext: bytes) -> bool:
        """Whether ``ciphertext`` is encrypted with the first key already."""
        if self._current is None:
            raise SecretsKeyMissing("set CONFIRMHUB_SECRETS_KEY to read stored secrets")
        try:
            self._current.decrypt(ciphertext)
        except InvalidToken:
            return False
        return True

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt with the first key; SecretsKeyMissing if no key decrypts it."""
        if self._fernet is None:
            raise SecretsKeyMissing("set CONFIRMHUB_SECRETS_KEY to rotate stored secrets")
        try:
            return self._fernet.rotate(ciphertext)
        except InvalidToken as exc:
            raise SecretsKeyMissing("stored secret does not decrypt with any key") from exc

    @staticmethod
    def generate_key() -> str:
        """A fresh key for ``CONFIRMHUB_SECRETS_KEY``."""
        return Fernet.generate_key().decode()
