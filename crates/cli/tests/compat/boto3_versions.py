"""boto3 against a Nimbus server: versions, aliases, reserved concurrency and resource policies. Exits non-zero on any mismatch."""
import io
import json
import os
import zipfile

import boto3
import botocore.exceptions

lam = boto3.client(
    "lambda",
    endpoint_url=os.environ["NIMBUS_TEST_ENDPOINT"],
    region_name="us-east-1",
    aws_access_key_id=os.environ["NIMBUS_TEST_KEY_ID"],
    aws_secret_access_key=os.environ["NIMBUS_TEST_SECRET"],
)
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:boto-versions"


def package(value):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", f"def handler(event, context):\n    return [{value!r}, context.invoked_function_arn]\n")
    return buf.getvalue()


def invoke(**kwargs):
    r = lam.invoke(FunctionName="boto-versions", **kwargs)
    return r["ExecutedVersion"], json.loads(r["Payload"].read())


created = lam.create_function(FunctionName="boto-versions", Runtime="python3.12", Role=ROLE,
                              Handler="app.handler", Code={"ZipFile": package("one")}, Publish=True)
assert created["Version"] == "1", created
lam.get_waiter("published_version_active").wait(FunctionName="boto-versions", Qualifier="1",
                                                WaiterConfig={"Delay": 1})
lam.get_waiter("function_active_v2").wait(FunctionName="boto-versions", WaiterConfig={"Delay": 1})

lam.update_function_code(FunctionName="boto-versions", ZipFile=package("two"))
lam.get_waiter("function_updated_v2").wait(FunctionName="boto-versions", WaiterConfig={"Delay": 1})
v2 = lam.publish_version(FunctionName="boto-versions", Description="second")
assert v2["Version"] == "2" and v2["Description"] == "second", v2

assert invoke(Qualifier="1") == ("1", ["one", ARN + ":1"])
assert invoke(Qualifier="2") == ("2", ["two", ARN + ":2"])
assert invoke() == ("$LATEST", ["two", ARN])

# $LATEST changes leave published versions alone.
lam.update_function_configuration(FunctionName="boto-versions", Timeout=9)
lam.get_waiter("function_updated_v2").wait(FunctionName="boto-versions", WaiterConfig={"Delay": 1})
assert lam.get_function_configuration(FunctionName="boto-versions", Qualifier="1")["Timeout"] == 3
assert lam.get_function_configuration(FunctionName="boto-versions")["Timeout"] == 9

pages = list(lam.get_paginator("list_versions_by_function").paginate(
    FunctionName="boto-versions", PaginationConfig={"PageSize": 2}))
assert [v["Version"] for p in pages for v in p["Versions"]] == ["$LATEST", "1", "2"], pages

try:
    lam.publish_version(FunctionName="boto-versions", CodeSha256="nope")
    raise AssertionError("a wrong CodeSha256 was published")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidParameterValueException", e.response

# An alias sending 20% of invocations to version 2: 2,000 invocations, each version within five
# points of its weight.
v3 = lam.publish_version(FunctionName="boto-versions")
assert v3["Version"] == "3", v3
alias = lam.create_alias(FunctionName="boto-versions", Name="live", FunctionVersion="1",
                         RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}})
assert alias["AliasArn"] == ARN + ":live", alias
ran = {"1": 0, "2": 0}
for _ in range(2000):
    version, (code, arn) = invoke(Qualifier="live")
    ran[version] += 1
    assert code == {"1": "one", "2": "two"}[version] and arn == ARN + ":live", (version, code, arn)
assert 300 <= ran["2"] <= 500, ran
assert lam.get_alias(FunctionName="boto-versions", Name="live")["RoutingConfig"] == {
    "AdditionalVersionWeights": {"2": 0.2}}
aliases = lam.list_aliases(FunctionName="boto-versions")["Aliases"]
assert [a["Name"] for a in aliases] == ["live"], aliases
try:
    lam.delete_function(FunctionName="boto-versions", Qualifier="2")
    raise AssertionError("a version an alias routes to was deleted")
except lam.exceptions.ResourceConflictException as e:
    assert "[live]" in e.response["Error"]["Message"], e.response
updated = lam.update_alias(FunctionName="boto-versions", Name="live", FunctionVersion="3",
                           RoutingConfig={"AdditionalVersionWeights": {}})
assert "RoutingConfig" not in updated, updated
assert invoke(Qualifier="live")[0] == "3"
lam.delete_alias(FunctionName="boto-versions", Name="live")
try:
    lam.get_alias(FunctionName="boto-versions", Name="live")
    raise AssertionError("a deleted alias was found")
except lam.exceptions.ResourceNotFoundException:
    pass

lam.delete_function(FunctionName="boto-versions", Qualifier="1")
try:
    lam.get_function(FunctionName="boto-versions", Qualifier="1")
    raise AssertionError("a deleted version was found")
except lam.exceptions.ResourceNotFoundException as e:
    assert e.response["Error"]["Message"] == f"Function not found: {ARN}:1", e.response

# Reserved concurrency, as boto3 models it.
assert lam.put_function_concurrency(FunctionName="boto-versions", ReservedConcurrentExecutions=0)[
    "ReservedConcurrentExecutions"] == 0
assert lam.get_function_concurrency(FunctionName="boto-versions")["ReservedConcurrentExecutions"] == 0
assert lam.get_function(FunctionName="boto-versions")["Concurrency"] == {"ReservedConcurrentExecutions": 0}
settings = lam.get_account_settings()["AccountLimit"]
assert settings["UnreservedConcurrentExecutions"] == settings["ConcurrentExecutions"], settings
try:
    invoke()
    raise AssertionError("reserved concurrency 0 ran an invocation")
except lam.exceptions.TooManyRequestsException as e:
    assert e.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded", e.response
lam.delete_function_concurrency(FunctionName="boto-versions")
assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName="boto-versions")
assert invoke()[0] == "$LATEST"

# Resource policies: AddPermission's Statement and GetPolicy's Policy are JSON strings.
added = lam.add_permission(FunctionName="boto-versions", StatementId="events",
                           Action="lambda:InvokeFunction", Principal="events.amazonaws.com",
                           SourceArn="arn:aws:events:us-east-1:000000000000:rule/tick")
statement = json.loads(added["Statement"])
assert statement == {
    "Sid": "events", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
    "Action": "lambda:InvokeFunction", "Resource": ARN,
    "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:events:us-east-1:000000000000:rule/tick"}},
}, statement
policy = lam.get_policy(FunctionName="boto-versions")
assert json.loads(policy["Policy"]) == {"Version": "2012-10-17", "Id": "default",
                                         "Statement": [statement]}, policy
try:
    lam.add_permission(FunctionName="boto-versions", StatementId="events",
                       Action="lambda:InvokeFunction", Principal="*")
    raise AssertionError("a statement id was taken twice")
except lam.exceptions.ResourceConflictException:
    pass
lam.remove_permission(FunctionName="boto-versions", StatementId="events",
                      RevisionId=policy["RevisionId"])
try:
    lam.get_policy(FunctionName="boto-versions")
    raise AssertionError("a removed policy was found")
except lam.exceptions.ResourceNotFoundException:
    pass

lam.delete_function(FunctionName="boto-versions")
print("boto3 versions: ok")
