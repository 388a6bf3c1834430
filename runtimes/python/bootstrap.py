"""Nimbus's Python runtime: a Lambda Runtime API client using only the standard library.

Started as `python3 -u -s -B bootstrap.py` with the variables of the Lambda execution environment.
It loads the handler named by _HANDLER from LAMBDA_TASK_ROOT, then loops: take the next event,
call the handler with a context object, post the result or the error.
"""
import decimal
import http.client
import importlib
import json
import os
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"
_conn = None


def _request(method, path, body=None, headers=None):
    global _conn
    for attempt in (0, 1):
        if _conn is None:
            _conn = http.client.HTTPConnection(API)
        try:
            _conn.request(method, BASE + path, body=body, headers=headers or {})
            resp = _conn.getresponse()
            return resp.status, resp.headers, resp.read()
        except (http.client.HTTPException, ConnectionError):
            _conn.close()
            _conn = None
            if attempt:
                raise


def _stack(tb):
    # The user's frames only: the runtime's own call into the handler is not theirs.
    frames = [f for f in traceback.extract_tb(tb) if f.filename != __file__]
    return traceback.format_list(frames)


def _error_doc(exc, request_id, error_type=None, message=None, tb=True):
    return {
        "errorMessage": message if message is not None else str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": request_id,
        "stackTrace": _stack(exc.__traceback__) if tb and exc is not None else [],
    }


def _log_error(doc):
    # AWS compat: one log event for the whole error, its lines joined with \r.
    lines = ["[ERROR] %s: %s" % (doc["errorType"], doc["errorMessage"])]
    if doc["stackTrace"]:
        lines.append("Traceback (most recent call last):")
        lines.extend(l.rstrip("\n") for l in doc["stackTrace"])
    print("\r".join(lines), flush=True)


def _post_error(path, doc):
    body = json.dumps(doc).encode()
    _request("POST", path, body, {
        "Content-Type": "application/json",
        "Lambda-Runtime-Function-Error-Type": doc["errorType"],
    })


class _InitError(Exception):
    def __init__(self, error_type, message, exc=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.exc = exc


def _load_handler(spec):
    try:
        module_path, fname = spec.rsplit(".", 1)
    except ValueError as e:
        raise _InitError("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (spec, e))
    modname = module_path.replace("/", ".")
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        raise _InitError("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, e))
    except SyntaxError as e:
        raise _InitError("Runtime.UserCodeSyntaxError", "Syntax error in module '%s': %s" % (modname, e))
    except Exception as e:
        raise _InitError(type(e).__name__, str(e), e)
    handler = getattr(module, fname, None)
    if handler is None:
        raise _InitError("Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname))
    return handler


class _Obj:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class ClientContext:
    def __init__(self, raw):
        self.client = _Obj(**raw.get("client", {})) if raw.get("client") else None
        self.custom = raw.get("custom")
        self.env = raw.get("env")


class LambdaContext:
    def __init__(self, request_id, deadline_ms, invoked_arn, client_context, identity):
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.client_context = ClientContext(client_context) if client_context else None
        self.identity = _Obj(**identity) if identity else _Obj(cognito_identity_id=None, cognito_identity_pool_id=None)
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def log(self, msg):
        sys.stdout.write(str(msg))


class _Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def main():
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    os.chdir(task_root)
    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except _InitError as e:
        doc = _error_doc(e.exc, "", e.error_type, e.message, tb=e.exc is not None)
        _log_error(doc)
        _post_error("/init/error", doc)
        sys.exit(1)

    while True:
        status, headers, body = _request("GET", "/invocation/next")
        if status != 200:
            sys.exit("runtime API answered %d to next" % status)
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        trace = headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        cc = headers.get("Lambda-Runtime-Client-Context")
        ident = headers.get("Lambda-Runtime-Cognito-Identity")
        context = LambdaContext(
            request_id,
            int(headers.get("Lambda-Runtime-Deadline-Ms", "0")),
            headers.get("Lambda-Runtime-Invoked-Function-Arn"),
            json.loads(cc) if cc else None,
            json.loads(ident) if ident else None,
        )
        path = "/invocation/%s" % request_id
        try:
            event = json.loads(body) if body else {}
        except ValueError as e:
            doc = _error_doc(e, request_id, "Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e)
            _log_error(doc)
            _post_error(path + "/error", doc)
            continue
        try:
            result = handler(event, context)
        except Exception as e:
            doc = _error_doc(e, request_id)
            _log_error(doc)
            _post_error(path + "/error", doc)
            continue
        try:
            payload = json.dumps(result, cls=_Encoder).encode()
        except (TypeError, ValueError) as e:
            doc = _error_doc(e, request_id, "Runtime.MarshalError", "Unable to marshal response: %s" % e, tb=False)
            _log_error(doc)
            _post_error(path + "/error", doc)
            continue
        _request("POST", path + "/response", payload, {"Content-Type": "application/json"})


if __name__ == "__main__":
    main()
