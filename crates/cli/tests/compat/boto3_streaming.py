"""InvokeWithResponseStream with boto3, unmodified, against a real server (sandbox launcher):
botocore parses Nimbus's event stream (PayloadChunk and InvokeComplete events, CRCs checked)
from a Node.js function that streams, one that fails mid-stream, and one that does not stream."""
import io
import os
import zipfile

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
ROLE = "arn:aws:iam::000000000000:role/lambda-role"

STREAMER = """
exports.handler = awslambda.streamifyResponse(async (event, stream) => {
  stream.setContentType('text/plain');
  for (let i = 0; i < event.n; i++) {
    stream.write(`line ${i}\\n`);
    await new Promise((r) => setTimeout(r, 5));
  }
  if (event.fail) throw new TypeError('gave up');
  stream.end();
});
"""


def create(name, runtime, handler, filename, code):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(filename, code)
    lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                        Code={"ZipFile": buf.getvalue()})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def collect(**kwargs):
    r = lam.invoke_with_response_stream(**kwargs)
    chunks, complete = [], None
    for event in r["EventStream"]:
        if "PayloadChunk" in event:
            chunks.append(event["PayloadChunk"]["Payload"])
        elif "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    return r, b"".join(chunks), chunks, complete


create("streamer", "nodejs20.x", "index.handler", "index.js", STREAMER)
r, body, chunks, complete = collect(FunctionName="streamer", Payload=b'{"n": 5}', LogType="Tail")
assert r["StatusCode"] == 200, r
assert r["ExecutedVersion"] == "$LATEST", r
assert body == b"".join(b"line %d\n" % i for i in range(5)), body
assert "ErrorCode" not in complete, complete
assert "REPORT RequestId" in __import__("base64").b64decode(complete["LogResult"]).decode(), complete

r, body, chunks, complete = collect(FunctionName="streamer", Payload=b'{"n": 2, "fail": true}')
assert body == b"line 0\nline 1\n", body
assert complete["ErrorCode"] == "TypeError", complete
assert complete["ErrorDetails"] == "gave up", complete

create("plain", "python3.12", "app.handler", "app.py",
       "def handler(event, context):\n    return {'echo': event}\n")
r, body, chunks, complete = collect(FunctionName="plain", Payload=b'{"x": 1}')
assert body == b'{"echo": {"x": 1}}', body
assert complete == {}, complete
print("boto3 streaming: ok")
