"""An SQS event source mapping driven by boto3, unmodified, against a real server (sandbox
launcher): a batch of 10 of which the function reports 3 as failed; only those come back, and
after maxReceiveCount they are in the dead-letter queue. Then the mapping's operations."""
import io
import json
import os
import time
import zipfile

import boto3
from botocore.config import Config

kw = dict(
    endpoint_url=os.environ["NIMBUS_TEST_ENDPOINT"],
    region_name="us-east-1",
    aws_access_key_id=os.environ["NIMBUS_TEST_KEY_ID"],
    aws_secret_access_key=os.environ["NIMBUS_TEST_SECRET"],
    config=Config(retries={"max_attempts": 1}),
)
lam = boto3.client("lambda", **kw)
sqs = boto3.client("sqs", **kw)

CODE = """
def handler(event, context):
    print('batch of %d' % len(event['Records']))
    return {'batchItemFailures': [{'itemIdentifier': r['messageId']}
                                  for r in event['Records'] if r['body'].startswith('fail')]}
"""
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("app.py", CODE)
lam.create_function(FunctionName="consumer", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
                    Handler="app.handler", Code={"ZipFile": buf.getvalue()})
lam.get_waiter("function_active_v2").wait(FunctionName="consumer")

dlq = sqs.create_queue(QueueName="esm-dlq")["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
src = sqs.create_queue(QueueName="esm-src", Attributes={
    "VisibilityTimeout": "1",
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}),
})["QueueUrl"]
src_arn = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
entries = [{"Id": f"m{i}", "MessageBody": ("fail %d" if i in (2, 5, 8) else "ok %d") % i} for i in range(10)]
sent = sqs.send_message_batch(QueueUrl=src, Entries=entries)
assert len(sent["Successful"]) == 10, sent

m = lam.create_event_source_mapping(FunctionName="consumer", EventSourceArn=src_arn, BatchSize=10,
                                    FunctionResponseTypes=["ReportBatchItemFailures"])
assert m["ResponseMetadata"]["HTTPStatusCode"] == 202, m
assert m["State"] == "Creating" and m["BatchSize"] == 10 and m["EventSourceArn"] == src_arn, m
assert m["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:consumer", m
uuid = m["UUID"]

deadline = time.time() + 90
dead = []
while time.time() < deadline and len(dead) < 3:
    r = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=2, MaxNumberOfMessages=10)
    for msg in r.get("Messages", []):
        dead.append(msg["Body"])
        sqs.delete_message(QueueUrl=dlq, ReceiptHandle=msg["ReceiptHandle"])
assert sorted(dead) == ["fail 2", "fail 5", "fail 8"], dead
attrs = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["All"])["Attributes"]
assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0", attrs

got = lam.get_event_source_mapping(UUID=uuid)
assert got["State"] == "Enabled", got
assert got["FunctionResponseTypes"] == ["ReportBatchItemFailures"], got
listed = lam.list_event_source_mappings(FunctionName="consumer")["EventSourceMappings"]
assert [x["UUID"] for x in listed] == [uuid], listed
try:
    lam.create_event_source_mapping(FunctionName="consumer", EventSourceArn=src_arn)
    raise AssertionError("a second mapping of the same queue and function")
except lam.exceptions.ResourceConflictException as e:
    assert uuid in str(e), e
try:
    lam.update_event_source_mapping(UUID=uuid, BatchSize=50)
    raise AssertionError("BatchSize 50 without a window")
except lam.exceptions.InvalidParameterValueException as e:
    assert "Maximum batch window in seconds must be greater than 0" in str(e), e
up = lam.update_event_source_mapping(UUID=uuid, Enabled=False,
                                     FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": [{"prefix": "ok"}]})}]})
assert up["State"] == "Disabling", up
try:
    lam.update_event_source_mapping(UUID=uuid, FilterCriteria={"Filters": [{"Pattern": "{not json"}]})
    raise AssertionError("a bad pattern")
except lam.exceptions.InvalidParameterValueException as e:
    assert "Invalid filter pattern definition." in str(e), e
gone = lam.delete_event_source_mapping(UUID=uuid)
assert gone["State"] == "Deleting", gone
try:
    lam.get_event_source_mapping(UUID=uuid)
    raise AssertionError("deleted mapping still there")
except lam.exceptions.ResourceNotFoundException:
    pass
print("boto3 esm: ok")
