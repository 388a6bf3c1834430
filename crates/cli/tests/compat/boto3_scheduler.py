"""EventBridge Scheduler with boto3, unmodified, against a real server (sandbox launcher):
schedule groups and their tags, paginated listings, AWS's errors, a one-time schedule that
invokes a function (its effect observed through the function's OnSuccess destination queue)
and is deleted after firing, and an undeliverable schedule's dead-letter message with
Scheduler's attributes."""
import datetime
import io
import json
import os
import time
import zipfile

import boto3
import botocore.exceptions
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
sch = boto3.client("scheduler", **kw)
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
SCHEDULER_ROLE = "arn:aws:iam::000000000000:role/scheduler"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def expect_error(code, message, fn, **kwargs):
    try:
        fn(**kwargs)
    except botocore.exceptions.ClientError as e:
        err = e.response["Error"]
        assert err["Code"] == code, err
        assert err["Message"] == message, err
        return
    raise AssertionError(f"{fn.__name__} succeeded; expected {code}")


def queue(name):
    return sqs_helpers.queue(sqs, name)


def receive_one(url, within=60):
    return sqs_helpers.receive_one(sqs, url, within)


buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("app.py", "def handler(event, context):\n    return event\n")
lam.create_function(FunctionName="echo", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                    Code={"ZipFile": buf.getvalue()})
lam.get_waiter("function_active_v2").wait(FunctionName="echo")
done_url, done_arn = queue("scheduled-done")
dlq_url, dlq_arn = queue("scheduler-dlq")
lam.put_function_event_invoke_config(
    FunctionName="echo", DestinationConfig={"OnSuccess": {"Destination": done_arn}})

# Groups: default is always there; tags on the others.
g = sch.create_schedule_group(Name="jobs", Tags=[{"Key": "team", "Value": "core"}])
assert g["ScheduleGroupArn"] == "arn:aws:scheduler:us-east-1:000000000000:schedule-group/jobs", g
groups = sch.get_paginator("list_schedule_groups").paginate(
    PaginationConfig={"PageSize": 1}).build_full_result()["ScheduleGroups"]
assert [x["Name"] for x in groups] == ["default", "jobs"], groups
assert isinstance(groups[1]["CreationDate"], datetime.datetime), groups
expect_error("ConflictException", "Schedule group jobs already exists.",
             sch.create_schedule_group, Name="jobs")
expect_error("ResourceNotFoundException", "Schedule group nope does not exist.",
             sch.get_schedule_group, Name="nope")
assert sch.list_tags_for_resource(ResourceArn=g["ScheduleGroupArn"])["Tags"] == [
    {"Key": "team", "Value": "core"}]

# A one-time schedule a few seconds from now, deleted once it has fired.
when = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)).strftime(
    "%Y-%m-%dT%H:%M:%S")
target = {"Arn": ARN + "echo", "RoleArn": SCHEDULER_ROLE,
          "Input": json.dumps({"from": "<aws.scheduler.schedule-arn>",
                               "at": "<aws.scheduler.scheduled-time>"})}
created = sch.create_schedule(Name="soon", GroupName="jobs", ScheduleExpression=f"at({when})",
                              FlexibleTimeWindow={"Mode": "OFF"}, Target=target,
                              ActionAfterCompletion="DELETE", Description="once")
arn = "arn:aws:scheduler:us-east-1:000000000000:schedule/jobs/soon"
assert created["ScheduleArn"] == arn, created
expect_error("ConflictException", "Schedule soon already exists.", sch.create_schedule,
             Name="soon", GroupName="jobs", ScheduleExpression=f"at({when})",
             FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
expect_error("ValidationException", "Invalid Schedule Expression rate(10 seconds).",
             sch.create_schedule, Name="bad", ScheduleExpression="rate(10 seconds)",
             FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
got = sch.get_schedule(Name="soon", GroupName="jobs")
assert got["Description"] == "once" and got["State"] == "ENABLED", got
assert got["ScheduleExpressionTimezone"] == "UTC", got
assert got["Target"]["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400,
                                         "MaximumRetryAttempts": 185}, got
listed = sch.get_paginator("list_schedules").paginate(GroupName="jobs").build_full_result()
assert [s["Name"] for s in listed["Schedules"]] == ["soon"], listed

record = json.loads(receive_one(done_url)["Body"])
assert record["requestPayload"] == {"from": arn, "at": when + "Z"}, record
assert record["requestContext"]["functionArn"] == ARN + "echo:$LATEST", record
expect_error("ResourceNotFoundException", "Schedule soon does not exist.",
             sch.get_schedule, Name="soon", GroupName="jobs")

# A target that does not exist: its invocation goes to the dead-letter queue.
sch.create_schedule(Name="lost", ScheduleExpression="rate(1 hour)",
                    FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 1},
                    Target={"Arn": ARN + "missing", "RoleArn": SCHEDULER_ROLE,
                            "DeadLetterConfig": {"Arn": dlq_arn}})
dead = receive_one(dlq_url, within=90)
attrs = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
assert attrs["ERROR_CODE"] == "ResourceNotFoundException", attrs
assert attrs["SCHEDULE_ARN"] == "arn:aws:scheduler:us-east-1:000000000000:schedule/default/lost", attrs
assert attrs["TARGET_ARN"] == ARN + "missing", attrs
assert json.loads(dead["Body"])["detail-type"] == "Scheduled Event", dead["Body"]

# Update (whole), then delete; the group goes with what is left in it.
sch.update_schedule(Name="lost", ScheduleExpression="rate(2 hours)", State="DISABLED",
                    FlexibleTimeWindow={"Mode": "OFF"},
                    Target={"Arn": ARN + "echo", "RoleArn": SCHEDULER_ROLE})
got = sch.get_schedule(Name="lost")
assert got["State"] == "DISABLED" and "DeadLetterConfig" not in got["Target"], got
sch.delete_schedule(Name="lost")
expect_error("ResourceNotFoundException", "Schedule lost does not exist.",
             sch.delete_schedule, Name="lost")
sch.delete_schedule_group(Name="jobs")
expect_error("ValidationException", "This operation cannot be performed on schedule group default.",
             sch.delete_schedule_group, Name="default")
print("boto3 scheduler: ok")
