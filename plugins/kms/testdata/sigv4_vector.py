#!/usr/bin/env python3
"""AWS Signature Version 4 for one KMS JSON request, signed by botocore (an
implementation independent of plexus-kms), at a fixed time, to make the
golden vector in sigv4-vector.json:

  sigv4_vector.py > sigv4-vector.json
"""
import datetime
import json
import sys
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CASES = [
    # name, endpoint, target, body, session token
    ("encrypt-loopback-port", "http://127.0.0.1:4566/", "TrentService.Encrypt",
     '{"KeyId":"alias/sftpgo","Plaintext":"c2VjcmV0"}', None),
    ("decrypt-with-session-token", "https://kms.eu-west-1.amazonaws.com/", "TrentService.Decrypt",
     '{"CiphertextBlob":"AQIDBA==","EncryptionContext":{"user":"alice"}}', "FwoGZXIvYXdzEXAMPLETOKEN"),
]
FIXED = datetime.datetime(2015, 8, 30, 12, 36, 0)


def sign(endpoint, target, body, token, region):
    request = AWSRequest(method="POST", url=endpoint, data=body.encode(), headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": target,
    })
    credentials = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=FIXED):
        botocore.auth.SigV4Auth(credentials, "kms", region).add_auth(request)
    return request.headers


def main():
    vectors = []
    for name, endpoint, target, body, token in CASES:
        region = "eu-west-1" if "eu-west-1" in endpoint else "us-east-1"
        headers = sign(endpoint, target, body, token, region)
        vectors.append({
            "name": name, "endpoint": endpoint, "region": region, "target": target,
            "body": body, "access_key_id": "AKIDEXAMPLE",
            "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "session_token": token, "amz_date": headers["X-Amz-Date"],
            "authorization": headers["Authorization"],
        })
    json.dump(vectors, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
