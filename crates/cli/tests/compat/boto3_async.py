"""Asynchronous invocation end to end with boto3, unmodified, against a real server (sandbox
launcher): the function's effect observed through destination records in SQS queues, a failing
function tried three times and its OnFailure record, its dead-letter message with Lambda's
attributes, and an event that ages out. The server runs with async.retry_delay_seconds = 1."""
import base64
import io
import json
import os
import time
import zipfile

import boto3
from botocore.config import Config

import sqs_helpers

kw = dict(
    endpoint_url=os.environ["NIMBUS_TEST_ENDPOINT"],
    region_name="us-east-1",
    aws_access_key_id=os.environ["NIMBUS_TEST_KEY_ID"],
    aws_secret_access_key=os.environ["NIMBUS_TEST_SECRET"],
    config=Config(retries={"max_attempts": 1}),
)
lam = boto3.client("lambda", **kw)
sqs = boto3.client("sqs", **kw)
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def zip_of(code):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", code)
    return buf.getvalue()


def create(name, code, **extra):
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"ZipFile": zip_of(code)}, **extra)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def queue(name):
    return sqs_helpers.queue(sqs, name)


def receive_one(url, within=90):
    return sqs_helpers.receive_one(sqs, url, within)


ok_url, ok_arn = queue("on-success")
fail_url, fail_arn = queue("on-failure")
dlq_url, dlq_arn = queue("dead-letters")

# Success: the function's answer reaches the OnSuccess queue as Lambda's record.
create("doubler", "def handler(event, context):\n    return {'doubled': event['n'] * 2}\n")
cfg = lam.put_function_event_invoke_config(FunctionName="doubler",
                                           DestinationConfig={"OnSuccess": {"Destination": ok_arn}})
assert cfg["FunctionArn"] == ARN + "doubler:$LATEST", cfg
assert cfg["DestinationConfig"] == {"OnSuccess": {"Destination": ok_arn}, "OnFailure": {}}, cfg
r = lam.invoke(FunctionName="doubler", InvocationType="Event", Payload=json.dumps({"n": 21}))
assert r["StatusCode"] == 202, r
request_id = r["ResponseMetadata"]["RequestId"]
record = json.loads(receive_one(ok_url)["Body"])
assert set(record) == {"version", "timestamp", "requestContext", "requestPayload", "responseContext", "responsePayload"}, record
assert record["version"] == "1.0"
assert record["timestamp"].endswith("Z") and "T" in record["timestamp"], record
assert record["requestContext"] == {"requestId": request_id, "functionArn": ARN + "doubler:$LATEST",
                                    "condition": "Success", "approximateInvokeCount": 1}, record
assert record["requestPayload"] == {"n": 21}, record
assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}, record
assert record["responsePayload"] == {"doubled": 42}, record

# Failure: three attempts (two retries), then the OnFailure record and the dead-letter message.
create("failer", "def handler(event, context):\n    raise RuntimeError('no good: ' + event['why'])\n",
       DeadLetterConfig={"TargetArn": dlq_arn})
lam.put_function_event_invoke_config(FunctionName="failer", MaximumRetryAttempts=2,
                                     DestinationConfig={"OnFailure": {"Destination": fail_arn}})
r = lam.invoke(FunctionName="failer", InvocationType="Event", Payload=json.dumps({"why": "test"}))
assert r["StatusCode"] == 202, r
request_id = r["ResponseMetadata"]["RequestId"]
record = json.loads(receive_one(fail_url)["Body"])
assert record["requestContext"] == {"requestId": request_id, "functionArn": ARN + "failer:$LATEST",
                                    "condition": "RetriesExhausted", "approximateInvokeCount": 3}, record
assert record["requestPayload"] == {"why": "test"}, record
assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                     "functionError": "Unhandled"}, record
assert record["responsePayload"]["errorType"] == "RuntimeError", record
assert record["responsePayload"]["errorMessage"] == "no good: test", record
dead = receive_one(dlq_url)
assert json.loads(dead["Body"]) == {"why": "test"}, dead
attrs = dead["MessageAttributes"]
assert attrs["RequestID"] == {"StringValue": request_id, "DataType": "String"}, attrs
assert attrs["ErrorCode"] == {"StringValue": "200", "DataType": "Number"}, attrs
assert attrs["ErrorMessage"] == {"StringValue": "no good: test", "DataType": "String"}, attrs

# Age: held back by reserved concurrency 0, the event expires after its 60 s.
create("held", "def handler(event, context):\n    return 'ran'\n")
lam.put_function_concurrency(FunctionName="held", ReservedConcurrentExecutions=0)
lam.put_function_event_invoke_config(FunctionName="held", MaximumEventAgeInSeconds=60,
                                     DestinationConfig={"OnFailure": {"Destination": fail_arn}})
t0 = time.time()
r = lam.invoke(FunctionName="held", InvocationType="Event", Payload=json.dumps({"late": True}))
assert r["StatusCode"] == 202, r
record = json.loads(receive_one(fail_url, within=150)["Body"])
assert time.time() - t0 >= 59, "expired early"
assert record["requestContext"]["condition"] == "EventAgeExceeded", record
assert record["requestContext"]["approximateInvokeCount"] == 0, record
assert "responseContext" not in record, record

# The configuration operations as boto3 models them.
listed = lam.list_function_event_invoke_configs(FunctionName="failer")["FunctionEventInvokeConfigs"]
assert [c["FunctionArn"] for c in listed] == [ARN + "failer:$LATEST"], listed
upd = lam.update_function_event_invoke_config(FunctionName="failer", MaximumRetryAttempts=0)
assert upd["MaximumRetryAttempts"] == 0 and upd["DestinationConfig"]["OnFailure"]["Destination"] == fail_arn, upd
lam.delete_function_event_invoke_config(FunctionName="failer")
try:
    lam.get_function_event_invoke_config(FunctionName="failer")
    raise AssertionError("deleted config still there")
except lam.exceptions.ResourceNotFoundException as e:
    assert "doesn't have an EventInvokeConfig" in str(e), e
try:
    lam.put_function_event_invoke_config(FunctionName="failer", MaximumRetryAttempts=3)
    raise AssertionError("3 retries accepted")
except Exception as e:
    assert "Member must have value less than or equal to 2" in str(e), e
legacy = lam.invoke_async(FunctionName="doubler", InvokeArgs=json.dumps({"n": 1}))
assert legacy["Status"] == 202, legacy
assert json.loads(receive_one(ok_url)["Body"])["responsePayload"] == {"doubled": 2}
print("boto3 async: ok")
