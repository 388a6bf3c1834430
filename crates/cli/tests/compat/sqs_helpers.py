"""What the boto3 scripts that watch SQS queues share: making a queue, taking one message."""
import time


def queue(sqs, name):
    """Creates queue `name`: its URL and ARN."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive_one(sqs, url, within=90):
    """The next message of `url` (deleted), with its attributes; fails after `within` s."""
    deadline = time.time() + within
    while time.time() < deadline:
        r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, MaxNumberOfMessages=1,
                                MessageAttributeNames=["All"])
        for m in r.get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return m
    raise AssertionError(f"nothing arrived in {url} within {within} s")
