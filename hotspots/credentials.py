"""Named SNMP credential profiles, kept apart from the inventory (they are secrets).

File format (``credentials.yaml``)::

    profiles:
      public-v2c:
        version: 2c
        community: public
      noc-v3-sha-aes:
        version: 3
        user: pantau
        auth_protocol: SHA          # SHA (HMAC-SHA-96) or SHA-256 (HMAC-SHA-192, RFC 7860)
        auth_password: "..."
        priv_protocol: AES          # AES (AES-128-CFB, RFC 3826) or AES-256
        priv_password: "..."

Secrets are pydantic ``SecretStr``: printing or logging a profile shows ``**********``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from hotspots.datafile import read_yaml, validate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class V2cCredentials(_Strict):
    version: Literal["2c"]
    community: SecretStr

    def describe(self) -> str:
        return "SNMPv2c community=**********"


class V3Credentials(_Strict):
    version: Literal["3"]
    user: Annotated[str, Field(min_length=1, max_length=32)]
    auth_protocol: Literal["SHA", "SHA-256"]
    auth_password: SecretStr
    priv_protocol: Literal["AES", "AES-256"] | None = None
    priv_password: SecretStr | None = None

    @model_validator(mode="after")
    def _check(self):
        if len(self.auth_password.get_secret_value()) < 8:
            raise ValueError("auth_password must be at least 8 characters (RFC 3414)")
        if (self.priv_protocol is None) != (self.priv_password is None):
            raise ValueError("priv_protocol and priv_password go together")
        if self.priv_password is not None and len(self.priv_password.get_secret_value()) < 8:
            raise ValueError("priv_password must be at least 8 characters (RFC 3414)")
        return self

    @property
    def security_level(self) -> str:
        return "authPriv" if self.priv_protocol else "authNoPriv"

    def describe(self) -> str:
        priv = f" priv={self.priv_protocol}" if self.priv_protocol else ""
        return f"SNMPv3 user={self.user} auth={self.auth_protocol}{priv} ({self.security_level}) passwords=**********"


Credentials = Annotated[Union[V2cCredentials, V3Credentials], Field(discriminator="version")]


class CredentialSet(_Strict):
    profiles: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")], Credentials] = Field(min_length=1)


def _normalise(data):
    # YAML reads `version: 3` as an int and `2c` as a string; accept both spellings.
    if isinstance(data, dict) and isinstance(data.get("profiles"), dict):
        for prof in data["profiles"].values():
            if isinstance(prof, dict) and isinstance(prof.get("version"), int):
                prof["version"] = str(prof["version"])
    return data


def load_credentials(path: str | Path) -> CredentialSet:
    data, lines = read_yaml(path)
    return validate(CredentialSet, _normalise(data), lines)
