"""Nimbus's Python runtime: a Lambda Runtime API client using only the standard library.

Started as `python3 -u -s -B bootstrap.py` with the variables of the Lambda execution environment.
It loads the handler named by _HANDLER from LAMBDA_TASK_ROOT, then loops: take the next event,
call the handler with a context object, post the result or the error.
"""
import importlib
import json
import os
import socket
import sys
import time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"
# Lambda's logging controls (LoggingConfig): the format, and in JSON the application log level.
_LOG_JSON = os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON"
_LOG_LEVEL = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
_request_id = ""
_logging_ready = False
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# LogRecord attributes that are not a caller's `extra` fields.
_RECORD_FIELDS = frozenset((
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
    "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated",
    "thread", "threadName", "processName", "process", "taskName", "aws_request_id", "message",
    "asctime",
))


def _setup_logging():
    """Lambda's handler on the root logger: each record one log event on stdout, as Lambda's
    Python runtime writes it (`[LEVEL]\ttime\trequest id\tmessage`, or a JSON object), and in
    JSON the root logger at AWS_LAMBDA_LOG_LEVEL. Set up when the function's code has imported
    `logging` (always, in JSON), so that functions that never log never pay for the import."""
    global _logging_ready
    _logging_ready = True
    import logging

    def text(record):
        t = time.gmtime(record.created)
        line = "[%s]\t%s.%03dZ\t%s\t%s" % (
            record.levelname, time.strftime("%Y-%m-%dT%H:%M:%S", t), record.msecs,
            _request_id, record.getMessage())
        if record.exc_info:
            import traceback
            line += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        # One event per record: its lines joined with \r, as the error log's are.
        return line.replace("\n", "\r")

    def structured(record):
        doc = {
            "timestamp": time.strftime(_TIME_FORMAT, time.gmtime(record.created)),
            "level": record.levelname,
            "message": record.msg if isinstance(record.msg, dict) and not record.args
            else record.getMessage(),
            "logger": record.name,
            "requestId": _request_id or None,
        }
        if record.exc_info:
            import traceback
            doc["errorType"] = record.exc_info[0].__name__
            doc["errorMessage"] = str(record.exc_info[1])
            doc["stackTrace"] = traceback.format_tb(record.exc_info[2])
            doc["location"] = "%s:%s:%s" % (record.pathname, record.funcName, record.lineno)
        for k, v in record.__dict__.items():
            if k not in _RECORD_FIELDS and k not in doc:
                doc[k] = v
        return json.dumps({k: v for k, v in doc.items() if v is not None},
                          default=str, ensure_ascii=False)

    class LambdaHandler(logging.Handler):
        def emit(self, record):
            try:
                line = structured(record) if _LOG_JSON else text(record)
            except Exception:
                self.handleError(record)
                return
            sys.stdout.write(line + "\n")

    root = logging.getLogger()
    if root.handlers and not _LOG_JSON:
        # The function configured logging itself (basicConfig at import, say) before this
        # lazy set-up: its handlers stay alone, rather than every record written twice.
        return
    root.addHandler(LambdaHandler())
    if _LOG_JSON:
        level = {"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}.get(_LOG_LEVEL, _LOG_LEVEL)
        if level in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            root.setLevel(level)


class _RuntimeApi:
    """A keep-alive HTTP/1.1 client for the Runtime API, on a plain socket: http.client costs
    over 20 ms of imports at every cold start, this costs none."""

    def __init__(self, hostport):
        host, port = hostport.rsplit(":", 1)
        self.addr = (host, int(port))
        self.sock = None
        self.rfile = None

    def _connect(self):
        self.sock = socket.create_connection(self.addr)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rfile = self.sock.makefile("rb")

    def close(self):
        if self.sock is not None:
            self.rfile.close()
            self.sock.close()
        self.sock = None

    def request(self, method, path, body=b"", headers=None):
        for attempt in (0, 1):
            try:
                if self.sock is None:
                    self._connect()
                head = ["%s %s%s HTTP/1.1" % (method, BASE, path), "Host: " + API,
                        "Content-Length: %d" % len(body)]
                head.extend("%s: %s" % kv for kv in (headers or {}).items())
                self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
                return self._read_response()
            except (OSError, ValueError):
                self.close()
                if attempt:
                    raise

    def _read_response(self):
        line = self.rfile.readline()
        if not line:
            raise ConnectionError("runtime API closed the connection")
        status = int(line.split(None, 2)[1])
        headers = {}
        while True:
            line = self.rfile.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            body = b"".join(chunks)
        else:
            body = self.rfile.read(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body


_api = _RuntimeApi(API)


def _request(method, path, body=b"", headers=None):
    return _api.request(method, path, body, headers)


def _stack(tb):
    import traceback
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
    if _LOG_JSON:
        record = {"timestamp": time.strftime(_TIME_FORMAT, time.gmtime()), "level": "ERROR"}
        record.update(doc)
        print(json.dumps(record, default=str), flush=True)
        return
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
        import decimal
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def _sdk_dir(argv):
    """The SDK directory the engine passed (`--sdk DIR`), if any."""
    if len(argv) >= 3 and argv[1] == "--sdk":
        return argv[2]
    return None


def main():
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    # The runtime's boto3 comes after the function's own code, so a packaged boto3 wins.
    sdk = _sdk_dir(sys.argv)
    if sdk:
        sys.path.insert(1, sdk)
    os.chdir(task_root)
    if _LOG_JSON:
        _setup_logging()
    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except _InitError as e:
        doc = _error_doc(e.exc, "", e.error_type, e.message, tb=e.exc is not None)
        _log_error(doc)
        _post_error("/init/error", doc)
        sys.exit(1)

    global _request_id
    while True:
        if not _logging_ready and "logging" in sys.modules:
            _setup_logging()
        status, headers, body = _request("GET", "/invocation/next")
        if status != 200:
            sys.exit("runtime API answered %d to next" % status)
        request_id = headers.get("lambda-runtime-aws-request-id")
        _request_id = request_id or ""
        trace = headers.get("lambda-runtime-trace-id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        cc = headers.get("lambda-runtime-client-context")
        ident = headers.get("lambda-runtime-cognito-identity")
        context = LambdaContext(
            request_id,
            int(headers.get("lambda-runtime-deadline-ms", "0")),
            headers.get("lambda-runtime-invoked-function-arn"),
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
