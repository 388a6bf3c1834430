"""boto3 (SQS's JSON protocol) against a Nimbus server: queues, messages, FIFO, visibility,
redrive, long polls, batches and errors. Exits non-zero on any mismatch.

botocore does not check SQS's MD5s itself, so this script does: the body's, and the message
attributes' with SQS's documented encoding, written out here independently of the server."""
import hashlib
import json
import os
import struct
import threading
import time

import boto3
import botocore.exceptions

endpoint = os.environ["NIMBUS_TEST_ENDPOINT"]
sqs = boto3.client(
    "sqs",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=os.environ["NIMBUS_TEST_KEY_ID"],
    aws_secret_access_key=os.environ["NIMBUS_TEST_SECRET"],
)
assert sqs.meta.service_model.protocol == "json", sqs.meta.service_model.protocol


def md5_of_attributes(attrs):
    """SQS's digest of message attributes: sorted by name; lengths as 4-byte big-endian."""
    out = b""
    for name in sorted(attrs):
        a = attrs[name]
        enc = lambda b: struct.pack(">I", len(b)) + b
        out += enc(name.encode()) + enc(a["DataType"].encode())
        if "BinaryValue" in a:
            out += b"\x02" + enc(a["BinaryValue"])
        else:
            out += b"\x01" + enc(a["StringValue"].encode())
    return hashlib.md5(out).hexdigest()


def expect_error(exc_name, code, message, fn, **kwargs):
    try:
        fn(**kwargs)
    except botocore.exceptions.ClientError as e:
        err = e.response["Error"]
        assert type(e).__name__ == exc_name, (type(e).__name__, err)
        assert err["Code"] == code, err
        assert err["Message"] == message, err
        return
    raise AssertionError(f"{fn.__name__} succeeded; expected {code}")


# Queues.
url = sqs.create_queue(QueueName="b3", Attributes={"VisibilityTimeout": "1"}, tags={"team": "core"})["QueueUrl"]
assert url.endswith("/000000000000/b3"), url
assert sqs.get_queue_url(QueueName="b3")["QueueUrl"] == url
assert url in sqs.list_queues(QueueNamePrefix="b")["QueueUrls"]
assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "core"}
expect_error("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
             "The specified queue does not exist.", sqs.get_queue_url, QueueName="missing")
expect_error("QueueNameExists", "QueueAlreadyExists",
             "A queue already exists with the same name and a different value for attribute VisibilityTimeout",
             sqs.create_queue, QueueName="b3", Attributes={"VisibilityTimeout": "2"})
expect_error("InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute Nope.",
             sqs.set_queue_attributes, QueueUrl=url, Attributes={"Nope": "1"})
# The modeled exception classes exist on the client, as code written for AWS catches them.
try:
    sqs.get_queue_url(QueueName="missing")
except sqs.exceptions.QueueDoesNotExist:
    pass

# Send and receive, digests checked here.
attrs = {
    "colour": {"DataType": "String", "StringValue": "blue"},
    "count": {"DataType": "Number", "StringValue": "7"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
    "tag.a": {"DataType": "String.custom", "StringValue": "x"},
}
sent = sqs.send_message(QueueUrl=url, MessageBody="héllo", MessageAttributes=attrs,
                        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}})
assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest(), sent
assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attrs), sent
assert "MD5OfMessageSystemAttributes" in sent, sent
got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])["Messages"]
m = got[0]
assert m["Body"] == "héllo" and m["MD5OfBody"] == sent["MD5OfMessageBody"]
assert m["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01\xff", m
assert m["MD5OfMessageAttributes"] == md5_of_attributes(attrs), m
assert m["Attributes"]["ApproximateReceiveCount"] == "1"
assert m["Attributes"]["AWSTraceHeader"] == "Root=1-abc"
assert int(m["Attributes"]["SentTimestamp"]) > 1_600_000_000_000
# A prefix selects attributes, and the digest covers what came back.
time.sleep(1.1)
m2 = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["tag.*"], AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
assert list(m2["MessageAttributes"]) == ["tag.a"], m2
assert m2["MD5OfMessageAttributes"] == md5_of_attributes({"tag.a": attrs["tag.a"]})
assert m2["Attributes"] == {"ApproximateReceiveCount": "2"}, m2
sqs.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])
assert "Messages" not in sqs.receive_message(QueueUrl=url)
expect_error("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid",
             'The input receipt handle "bogus" is not a valid receipt handle.',
             sqs.delete_message, QueueUrl=url, ReceiptHandle="bogus")
expect_error("ClientError", "InvalidParameterValue",
             "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.",
             sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11)

# Batches: partial failure.
r = sqs.send_message_batch(QueueUrl=url, Entries=[
    {"Id": "a", "MessageBody": "1"},
    {"Id": "b", "MessageBody": "\x01"},
    {"Id": "c", "MessageBody": "3", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
])
assert [e["Id"] for e in r["Successful"]] == ["a", "c"], r
assert r["Successful"][1]["MD5OfMessageAttributes"] == md5_of_attributes({"k": {"DataType": "String", "StringValue": "v"}})
assert r["Failed"] == [{"Id": "b", "SenderFault": True, "Code": "InvalidMessageContents", "Message": r["Failed"][0]["Message"]}], r
expect_error("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
             "Maximum number of entries per request are 10. You have sent 11.",
             sqs.send_message_batch, QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)])
expect_error("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
             "There should be at least one SendMessageBatchRequestEntry in the request.",
             sqs.send_message_batch, QueueUrl=url, Entries=[])
attrs_now = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
assert attrs_now["ApproximateNumberOfMessages"] == "2", attrs_now
msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
d = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": x["ReceiptHandle"]} for i, x in enumerate(msgs)])
assert len(d["Successful"]) == 2 and d.get("Failed", []) == [], d

# Visibility: a longer timeout hides the message, zero shows it again.
sqs.send_message(QueueUrl=url, MessageBody="vis")
h = sqs.receive_message(QueueUrl=url, VisibilityTimeout=30)["Messages"][0]["ReceiptHandle"]
assert "Messages" not in sqs.receive_message(QueueUrl=url)
sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=h, VisibilityTimeout=0)
again = sqs.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])["Messages"][0]
assert again["Attributes"]["ApproximateReceiveCount"] == "2"

# Purge.
sqs.send_message(QueueUrl=url, MessageBody="gone")
sqs.purge_queue(QueueUrl=url)
assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"] == "0"

# Long polling, woken by a send from another thread.
def later():
    time.sleep(0.5)
    sqs.send_message(QueueUrl=url, MessageBody="woken")
threading.Thread(target=later).start()
start = time.time()
woken = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
assert woken[0]["Body"] == "woken" and time.time() - start < 5, time.time() - start

# FIFO: order per group, deduplication.
f = sqs.create_queue(QueueName="b3.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
for body, g in [("a1", "a"), ("a2", "a"), ("b1", "b")]:
    sqs.send_message(QueueUrl=f, MessageBody=body, MessageGroupId=g)
dup = sqs.send_message(QueueUrl=f, MessageBody="a1", MessageGroupId="a")
first = sqs.receive_message(QueueUrl=f, MaxNumberOfMessages=1, AttributeNames=["All"])["Messages"][0]
assert first["Body"] == "a1" and first["MessageId"] == dup["MessageId"], (first, dup)
rest = sqs.receive_message(QueueUrl=f, MaxNumberOfMessages=10)["Messages"]
assert [x["Body"] for x in rest] == ["b1"], rest
sqs.delete_message(QueueUrl=f, ReceiptHandle=first["ReceiptHandle"])
assert [x["Body"] for x in sqs.receive_message(QueueUrl=f, MaxNumberOfMessages=10)["Messages"]] == ["a2"]
expect_error("ClientError", "MissingParameter", "The request must contain the parameter MessageGroupId.",
             sqs.send_message, QueueUrl=f, MessageBody="x")

# Redrive after maxReceiveCount.
dlq = sqs.create_queue(QueueName="b3-dlq")["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
src = sqs.create_queue(QueueName="b3-src", Attributes={
    "VisibilityTimeout": "0",
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}),
})["QueueUrl"]
sqs.send_message(QueueUrl=src, MessageBody="poison")
assert len(sqs.receive_message(QueueUrl=src)["Messages"]) == 1
assert "Messages" not in sqs.receive_message(QueueUrl=src)
moved = sqs.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"][0]
assert moved["Body"] == "poison", moved
assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]

sqs.delete_queue(QueueUrl=url)
expect_error("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
             "The specified queue does not exist.", sqs.send_message, QueueUrl=url, MessageBody="x")
print("boto3 sqs: ok")
