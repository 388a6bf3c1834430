"""Invokes each function named on the command line with boto3 and prints one JSON line each:
{name, status, function_error, executed_version, payload, log}."""
import base64
import json
import os
import sys

import boto3
from botocore.config import Config

lam = boto3.client(
    "lambda",
    endpoint_url=os.environ["NIMBUS_TEST_ENDPOINT"],
    region_name="us-east-1",
    aws_access_key_id=os.environ["NIMBUS_TEST_KEY_ID"],
    aws_secret_access_key=os.environ["NIMBUS_TEST_SECRET"],
    config=Config(retries={"max_attempts": 1}),
)
for name in sys.argv[1:]:
    r = lam.invoke(FunctionName=name, Payload=json.dumps({"from": "boto3"}).encode(), LogType="Tail")
    print(json.dumps({
        "name": name,
        "status": r["StatusCode"],
        "function_error": r.get("FunctionError"),
        "executed_version": r.get("ExecutedVersion"),
        "payload": json.loads(r["Payload"].read()),
        "log": base64.b64decode(r.get("LogResult", "")).decode(),
    }))
dry = lam.invoke(FunctionName=sys.argv[1], InvocationType="DryRun")
assert dry["StatusCode"] == 204, dry
