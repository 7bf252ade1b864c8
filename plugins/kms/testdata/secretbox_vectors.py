#!/usr/bin/env python3
"""SFTPGo's local Secretbox layer, written independently of plexus-kms with
PyNaCl (libsodium's crypto_secretbox) and cryptography's HKDF, to make and
check the golden vectors in secretbox-vectors.json.

  secretbox_vectors.py generate > secretbox-vectors.json
  secretbox_vectors.py open < secrets.json   # [{payload,key,additional_data,mode,master_key}] -> [plaintext]

R and the nonce of each vector are derived from its name, so `generate` is
reproducible.
"""
import base64
import hashlib
import json
import sys

import nacl.secret
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive(ikm: bytes, salt: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info.encode()).derive(ikm)


def ikm_for(mode: int, salt: bytes, ad: str, master_key: str) -> bytes:
    if mode == 1:
        return master_key.encode()
    return hashlib.sha256(salt + ad.encode() + salt).digest()


def seal(plaintext: str, ad: str, master_key: str, mode: int, salt: bytes, nonce: bytes) -> str:
    box = nacl.secret.SecretBox(derive(ikm_for(mode, salt, ad, master_key), salt, ad))
    stored = box.encrypt(plaintext.encode(), nonce)  # nonce || tag || ciphertext
    return base64.b64encode(bytes(stored)).decode()


def open_secret(payload: str, key: str, ad: str, mode: int, master_key: str) -> str:
    salt = bytes.fromhex(key)
    box = nacl.secret.SecretBox(derive(ikm_for(mode, salt, ad, master_key), salt, ad))
    return box.decrypt(base64.b64decode(payload)).decode()


CASES = [
    # name, plaintext, additional_data, master_key, mode
    ("mode1-with-ad", "my secret password", "alice", "a master key from kms.secrets.master_key", 1),
    ("mode1-no-ad", "AKIAIOSFODNN7EXAMPLE", "", "another-master-key", 1),
    ("mode1-unicode", "pässwörd ✓ 秘密", "node-1.example.com", "k", 1),
    ("mode1-long", "x" * 1000, "smtp", "0123456789abcdef0123456789abcdef", 1),
    ("mode0-with-ad", "legacy secret", "bob", "", 0),
    ("mode0-no-ad", "legacy secret without additional data", "", "", 0),
]


def generate() -> None:
    vectors = []
    for name, plaintext, ad, master_key, mode in CASES:
        salt = hashlib.sha256(b"R:" + name.encode()).digest()
        nonce = hashlib.sha256(b"N:" + name.encode()).digest()[:24]
        payload = seal(plaintext, ad, master_key, mode, salt, nonce)
        assert open_secret(payload, salt.hex(), ad, mode, master_key) == plaintext
        vectors.append({
            "name": name, "plaintext": plaintext, "additional_data": ad,
            "master_key": master_key, "mode": mode, "key": salt.hex(),
            "nonce": nonce.hex(), "payload": payload,
        })
    json.dump(vectors, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def open_all() -> None:
    secrets = json.load(sys.stdin)
    out = [open_secret(s["payload"], s["key"], s["additional_data"], s["mode"], s["master_key"]) for s in secrets]
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    {"generate": generate, "open": open_all}[sys.argv[1]]()
