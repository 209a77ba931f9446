"""SNMPv3 User-based Security Model for the simulated agents (RFC 3414, RFC 3826, RFC 7860).

- Key derivation: password → Ku (1 MiB of the password through the hash, computed once per
  password) → localized key Kul = H(Ku || engineID || Ku), cheap per agent.
- Authentication: HMAC-SHA-96 (usmHMACSHAAuthProtocol) or HMAC-SHA-256-192 (RFC 7860).
- Privacy: AES-128-CFB (RFC 3826) and AES-256-CFB with a SHA-256 localized key (32 octets, so the
  Blumenthal and Reeder key extensions agree: no extension is needed).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os

from cryptography.hazmat.decrepit.ciphers.modes import CFB
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

AUTH = {
    # name: (hash name, MAC length)
    "SHA": ("sha1", 12),
    "SHA-256": ("sha256", 24),
}
PRIV_KEY_LEN = {"AES": 16, "AES-256": 32}


class UsmError(ValueError):
    pass


@functools.lru_cache(maxsize=256)
def password_to_key(password: str, hash_name: str) -> bytes:
    """RFC 3414 A.2: hash 1,048,576 octets of the repeated password."""
    pw = password.encode()
    if not pw:
        raise UsmError("empty password")
    # The password repeated to exactly 1,048,576 octets, hashed once.
    reps = pw * ((1048576 // len(pw)) + 2)
    return hashlib.new(hash_name, reps[:1048576]).digest()


def localize(ku: bytes, engine_id: bytes, hash_name: str) -> bytes:
    return hashlib.new(hash_name, ku + engine_id + ku).digest()


class UserKeys:
    """A v3 user's localized keys for one authoritative engine."""

    __slots__ = ("user", "auth_proto", "hash_name", "mac_len", "auth_key", "priv_proto", "priv_key")

    def __init__(
        self,
        user: str,
        engine_id: bytes,
        auth_proto: str,
        auth_password: str,
        priv_proto: str | None,
        priv_password: str | None,
    ):
        if auth_proto not in AUTH:
            raise UsmError(f"unsupported auth protocol {auth_proto}")
        self.user = user.encode()
        self.auth_proto = auth_proto
        self.hash_name, self.mac_len = AUTH[auth_proto]
        self.auth_key = localize(password_to_key(auth_password, self.hash_name), engine_id, self.hash_name)
        self.priv_proto = priv_proto
        self.priv_key = None
        if priv_proto:
            if priv_proto not in PRIV_KEY_LEN:
                raise UsmError(f"unsupported privacy protocol {priv_proto}")
            key = localize(password_to_key(priv_password, self.hash_name), engine_id, self.hash_name)
            need = PRIV_KEY_LEN[priv_proto]
            if len(key) < need:
                raise UsmError(f"{priv_proto} needs a {need}-octet key: pair it with SHA-256 authentication")
            self.priv_key = key[:need]

    def mac(self, whole_message: bytes) -> bytes:
        return hmac.new(self.auth_key, whole_message, self.hash_name).digest()[: self.mac_len]

    def verify(self, whole_message: bytes, offset: int, received: bytes) -> bool:
        if len(received) != self.mac_len:
            return False
        zeroed = whole_message[:offset] + b"\x00" * self.mac_len + whole_message[offset + self.mac_len :]
        return hmac.compare_digest(self.mac(zeroed), received)

    def _cipher(self, boots: int, etime: int, salt: bytes) -> Cipher:
        if self.priv_key is None:
            raise UsmError(f"user {self.user!r} has no privacy protocol: nothing to encrypt or decrypt with")
        iv = boots.to_bytes(4, "big") + etime.to_bytes(4, "big") + salt
        return Cipher(algorithms.AES(self.priv_key), CFB(iv))

    def encrypt(self, plaintext: bytes, boots: int, etime: int) -> tuple[bytes, bytes]:
        salt = os.urandom(8)
        enc = self._cipher(boots, etime, salt).encryptor()
        return enc.update(plaintext) + enc.finalize(), salt

    def decrypt(self, ciphertext: bytes, boots: int, etime: int, salt: bytes) -> bytes:
        if len(salt) != 8:
            raise UsmError("AES privacy parameters must be 8 octets")
        dec = self._cipher(boots, etime, salt).decryptor()
        return dec.update(ciphertext) + dec.finalize()


def engine_id_for(enterprise: int, text: str) -> bytes:
    """RFC 3411 SnmpEngineID, format 4 (administratively assigned text)."""
    return (0x80000000 | enterprise).to_bytes(4, "big") + b"\x04" + text.encode()[:27]


def encode_v3(
    msg_id: int,
    max_size: int,
    flags: int,
    engine_id: bytes,
    boots: int,
    etime: int,
    user: bytes,
    keys: UserKeys | None,
    scoped: bytes,
    encrypt: bool,
) -> bytes:
    """A whole SNMPv3 message (RFC 3412 header + RFC 3414 USM parameters + scoped PDU).

    ``flags``: 1 auth, 2 priv, 4 reportable. With ``keys`` and the auth flag the message is
    authenticated (HMAC over the whole message with zeroed auth parameters); with ``encrypt`` the
    scoped PDU is AES-encrypted with (boots, etime) of the authoritative engine in the IV.
    """
    from snmpwire.ber import SEQUENCE, enc_int, enc_octets, tlv

    salt = b""
    if encrypt:
        if keys is None:
            raise UsmError("an encrypted message needs the user's keys")
        cipher, salt = keys.encrypt(scoped, boots, etime)
        msg_data = enc_octets(cipher)
    else:
        msg_data = scoped
    auth_keys = keys if flags & 1 else None
    mac_len = auth_keys.mac_len if auth_keys is not None else 0
    header = tlv(SEQUENCE, enc_int(msg_id) + enc_int(max_size) + enc_octets(bytes((flags,))) + enc_int(3))
    prefix = enc_octets(engine_id) + enc_int(boots) + enc_int(etime) + enc_octets(user)
    usm_content = prefix + enc_octets(b"\x00" * mac_len) + enc_octets(salt)
    usm = tlv(SEQUENCE, usm_content)
    sec_params = enc_octets(usm)
    body = b"\x02\x01\x03" + header + sec_params + msg_data
    msg = tlv(SEQUENCE, body)
    if auth_keys is None:
        return msg
    off = (
        (len(msg) - len(body))
        + 3
        + len(header)
        + (len(sec_params) - len(usm))
        + (len(usm) - len(usm_content))
        + len(prefix)
        + 2
    )
    mac = auth_keys.mac(msg)
    return msg[:off] + mac + msg[off + mac_len :]


def scoped_plaintext(data: bytes, h, keys: UserKeys | None, priv: bool) -> bytes:
    """The scoped PDU bytes of a decoded v3 message ``h`` (ber.V3Header), decrypted if ``priv``."""
    from snmpwire.ber import OCTET_STRING, BERError, read_tlv

    if not priv:
        return data[h.scoped_start : h.scoped_end]
    tag, s, e = read_tlv(data, h.scoped_start, h.scoped_end)
    if tag != OCTET_STRING:
        raise BERError("encrypted scoped PDU must be an OCTET STRING")
    if keys is None:
        raise UsmError("an encrypted scoped PDU needs the user's keys")
    return keys.decrypt(data[s:e], h.engine_boots, h.engine_time, h.priv_params)
