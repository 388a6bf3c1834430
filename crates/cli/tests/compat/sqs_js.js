// The JavaScript SDK v3 SQS client (JSON protocol) against a Nimbus server. Its own middleware
// checks the MD5 of every body sent and received (and, where it can, of message attributes);
// this script checks the rest. Exits non-zero on any mismatch.
"use strict";
const assert = require("node:assert/strict");
const path = require("node:path");
const sdk = require(path.join(process.env.NIMBUS_TEST_SQS_JS, "node_modules/@aws-sdk/client-sqs"));

const client = new sdk.SQSClient({
  endpoint: process.env.NIMBUS_TEST_ENDPOINT,
  region: "us-east-1",
  credentials: {
    accessKeyId: process.env.NIMBUS_TEST_KEY_ID,
    secretAccessKey: process.env.NIMBUS_TEST_SECRET,
  },
});
const send = (Command, input) => client.send(new Command(input));

async function expectError(name, message, fn) {
  try {
    await fn();
  } catch (e) {
    assert.equal(e.name, name, `${e.name}: ${e.message}`);
    if (message !== undefined) assert.equal(e.message, message);
    return e;
  }
  throw new Error(`expected ${name}`);
}

async function main() {
  const { QueueUrl: url } = await send(sdk.CreateQueueCommand, {
    QueueName: "js-q",
    Attributes: { VisibilityTimeout: "1" },
    tags: { sdk: "js" },
  });
  assert.match(url, /\/000000000000\/js-q$/);
  const tags = await send(sdk.ListQueueTagsCommand, { QueueUrl: url });
  assert.deepEqual(tags.Tags, { sdk: "js" });

  const attrs = {
    s: { DataType: "String", StringValue: "v" },
    n: { DataType: "Number", StringValue: "1.5" },
    b: { DataType: "Binary", BinaryValue: new Uint8Array([0, 1, 255]) },
  };
  const sent = await send(sdk.SendMessageCommand, { QueueUrl: url, MessageBody: "js ✓", MessageAttributes: attrs });
  assert.ok(sent.MessageId && sent.MD5OfMessageBody && sent.MD5OfMessageAttributes);
  const got = await send(sdk.ReceiveMessageCommand, {
    QueueUrl: url,
    MaxNumberOfMessages: 10,
    MessageAttributeNames: ["All"],
    MessageSystemAttributeNames: ["All"],
  });
  assert.equal(got.Messages.length, 1);
  const m = got.Messages[0];
  assert.equal(m.Body, "js ✓");
  assert.equal(m.MD5OfMessageAttributes, sent.MD5OfMessageAttributes);
  assert.deepEqual(Array.from(m.MessageAttributes.b.BinaryValue), [0, 1, 255]);
  assert.equal(m.Attributes.ApproximateReceiveCount, "1");

  // Visibility: back after a second, counted twice.
  await new Promise((r) => setTimeout(r, 1100));
  const again = await send(sdk.ReceiveMessageCommand, { QueueUrl: url, MessageSystemAttributeNames: ["ApproximateReceiveCount"] });
  assert.equal(again.Messages[0].Attributes.ApproximateReceiveCount, "2");
  await send(sdk.DeleteMessageCommand, { QueueUrl: url, ReceiptHandle: again.Messages[0].ReceiptHandle });

  // Batches with a failing entry.
  const batch = await send(sdk.SendMessageBatchCommand, {
    QueueUrl: url,
    Entries: [
      { Id: "ok", MessageBody: "fine" },
      { Id: "bad", MessageBody: "x", DelaySeconds: 901 },
    ],
  });
  assert.deepEqual(batch.Successful.map((e) => e.Id), ["ok"]);
  assert.equal(batch.Failed[0].Id, "bad");
  assert.equal(batch.Failed[0].Code, "InvalidParameterValue");
  assert.equal(batch.Failed[0].SenderFault, true);

  // Long polling woken by a send.
  await send(sdk.PurgeQueueCommand, { QueueUrl: url });
  const started = Date.now();
  const poll = send(sdk.ReceiveMessageCommand, { QueueUrl: url, WaitTimeSeconds: 10, MaxNumberOfMessages: 10 });
  const later = new Promise((r) => setTimeout(r, 400)).then(() =>
    send(sdk.SendMessageCommand, { QueueUrl: url, MessageBody: "woken" }));
  const woken = await poll;
  await later;
  assert.deepEqual(woken.Messages.map((m) => m.Body), ["woken"]);
  assert.ok(Date.now() - started >= 350 && Date.now() - started < 5000);

  // FIFO.
  const { QueueUrl: fifo } = await send(sdk.CreateQueueCommand, {
    QueueName: "js-q.fifo",
    Attributes: { FifoQueue: "true" },
  });
  const a = await send(sdk.SendMessageCommand, { QueueUrl: fifo, MessageBody: "1", MessageGroupId: "g", MessageDeduplicationId: "d1" });
  const dup = await send(sdk.SendMessageCommand, { QueueUrl: fifo, MessageBody: "1", MessageGroupId: "g", MessageDeduplicationId: "d1" });
  assert.equal(a.MessageId, dup.MessageId);
  assert.equal(a.SequenceNumber, dup.SequenceNumber);
  await send(sdk.SendMessageCommand, { QueueUrl: fifo, MessageBody: "2", MessageGroupId: "g", MessageDeduplicationId: "d2" });
  const f1 = await send(sdk.ReceiveMessageCommand, { QueueUrl: fifo, MaxNumberOfMessages: 1 });
  assert.equal(f1.Messages[0].Body, "1");
  const blocked = await send(sdk.ReceiveMessageCommand, { QueueUrl: fifo, MaxNumberOfMessages: 10 });
  assert.equal(blocked.Messages, undefined);

  // Errors: modeled classes with the query codes SDKs keep.
  await expectError("QueueDoesNotExist", "The specified queue does not exist.", () =>
    send(sdk.GetQueueUrlCommand, { QueueName: "missing" }));
  await expectError("QueueNameExists", undefined, () =>
    send(sdk.CreateQueueCommand, { QueueName: "js-q", Attributes: { VisibilityTimeout: "5" } }));
  await expectError("ReceiptHandleIsInvalid", undefined, () =>
    send(sdk.DeleteMessageCommand, { QueueUrl: url, ReceiptHandle: "nope" }));
  await expectError("EmptyBatchRequest", undefined, () =>
    send(sdk.DeleteMessageBatchCommand, { QueueUrl: url, Entries: [] }));

  await send(sdk.DeleteQueueCommand, { QueueUrl: url });
  const list = await send(sdk.ListQueuesCommand, {});
  assert.deepEqual(list.QueueUrls, [fifo]);
  console.log("js sqs: ok");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
