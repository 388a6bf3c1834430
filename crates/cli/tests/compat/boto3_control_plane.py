"""boto3 against a Nimbus server: the control plane end to end. Exits non-zero on any mismatch."""
import io
import os
import sys
import zipfile

import boto3
import botocore.exceptions
import urllib.request

endpoint = os.environ["NIMBUS_TEST_ENDPOINT"]
lam = boto3.client(
    "lambda",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=os.environ["NIMBUS_TEST_KEY_ID"],
    aws_secret_access_key=os.environ["NIMBUS_TEST_SECRET"],
)
ROLE = "arn:aws:iam::000000000000:role/lambda-role"


def package(value):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", f"def handler(event, context):\n    return {value!r}\n")
    return buf.getvalue()


def expect_error(code, message, fn, **kwargs):
    try:
        fn(**kwargs)
    except botocore.exceptions.ClientError as e:
        err = e.response["Error"]
        assert err["Code"] == code, (err, code)
        assert err["Message"] == message, (err["Message"], message)
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] >= 400
        return
    raise AssertionError(f"{fn.__name__} did not fail")


zip1 = package(1)
created = lam.create_function(
    FunctionName="boto-fn", Runtime="python3.12", Role=ROLE, Handler="app.handler",
    Code={"ZipFile": zip1}, Environment={"Variables": {"A1": "x"}}, Tags={"team": "core"},
)
assert created["State"] == "Pending", created
assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
lam.get_waiter("function_active_v2").wait(FunctionName="boto-fn", WaiterConfig={"Delay": 1})

got = lam.get_function(FunctionName="boto-fn")
assert got["Configuration"]["State"] == "Active"
assert got["Configuration"]["Environment"] == {"Variables": {"A1": "x"}}
assert got["Tags"] == {"team": "core"}
assert urllib.request.urlopen(got["Code"]["Location"]).read() == zip1

for i in range(55):
    lam.create_function(FunctionName=f"boto-page-{i:02d}", Runtime="nodejs20.x", Role=ROLE,
                        Handler="index.handler", Code={"ZipFile": package(i)})
pages = list(lam.get_paginator("list_functions").paginate())
assert len(pages) == 2, [len(p["Functions"]) for p in pages]
assert [len(p["Functions"]) for p in pages] == [50, 6]
names = [f["FunctionName"] for p in pages for f in p["Functions"]]
assert len(set(names)) == 56 and "boto-fn" in names

updated = lam.update_function_code(FunctionName="boto-fn", ZipFile=package(2))
assert updated["LastUpdateStatus"] == "InProgress"
lam.get_waiter("function_updated_v2").wait(FunctionName="boto-fn", WaiterConfig={"Delay": 1})
cfg = lam.update_function_configuration(FunctionName="boto-fn", Timeout=30, MemorySize=2048,
                                        RevisionId=lam.get_function_configuration(FunctionName="boto-fn")["RevisionId"])
lam.get_waiter("function_updated_v2").wait(FunctionName="boto-fn", WaiterConfig={"Delay": 1})
cfg = lam.get_function_configuration(FunctionName="boto-fn")
assert (cfg["Timeout"], cfg["MemorySize"], cfg["LastUpdateStatus"]) == (30, 2048, "Successful"), cfg

arn = cfg["FunctionArn"]
lam.tag_resource(Resource=arn, Tags={"env": "dev"})
lam.untag_resource(Resource=arn, TagKeys=["team"])
assert lam.list_tags(Resource=arn)["Tags"] == {"env": "dev"}

expect_error("ResourceNotFoundException",
             "Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing",
             lam.get_function, FunctionName="missing")
expect_error("ResourceConflictException", "Function already exist: boto-fn",
             lam.create_function, FunctionName="boto-fn", Runtime="python3.12", Role=ROLE,
             Handler="app.handler", Code={"ZipFile": zip1})
expect_error("InvalidParameterValueException",
             "Could not unzip uploaded file. Please check your file, then try to upload again.",
             lam.update_function_code, FunctionName="boto-fn", ZipFile=b"not a zip")
expect_error("PreconditionFailedException",
             "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
             lam.update_function_configuration, FunctionName="boto-fn", Timeout=5, RevisionId="stale")

# Lambda's advanced logging controls, as boto3's current model sends them.
logged = lam.create_function(
    FunctionName="boto-json-logs", Runtime="python3.12", Role=ROLE, Handler="app.handler",
    Code={"ZipFile": zip1}, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"},
)
assert logged["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "WARN",
                                   "SystemLogLevel": "INFO",
                                   "LogGroup": "/aws/lambda/boto-json-logs"}, logged["LoggingConfig"]
lam.get_waiter("function_active_v2").wait(FunctionName="boto-json-logs", WaiterConfig={"Delay": 1})
updated = lam.update_function_configuration(FunctionName="boto-json-logs",
                                            LoggingConfig={"SystemLogLevel": "WARN"})
assert updated["LoggingConfig"]["SystemLogLevel"] == "WARN", updated["LoggingConfig"]
assert updated["LoggingConfig"]["ApplicationLogLevel"] == "WARN", updated["LoggingConfig"]
lam.get_waiter("function_updated_v2").wait(FunctionName="boto-json-logs", WaiterConfig={"Delay": 1})
try:
    lam.update_function_configuration(FunctionName="boto-json-logs",
                                      LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "INFO"})
    raise AssertionError("a level with the Text format was taken")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidParameterValueException", e.response
lam.delete_function(FunctionName="boto-json-logs")

settings = lam.get_account_settings()
assert settings["AccountUsage"]["FunctionCount"] == 56, settings

lam.delete_function(FunctionName="boto-fn")
expect_error("ResourceNotFoundException",
             "Function not found: arn:aws:lambda:us-east-1:000000000000:function:boto-fn",
             lam.get_function_configuration, FunctionName="boto-fn")
print("boto3 control plane: ok")
