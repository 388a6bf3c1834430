// Nimbus's Node.js runtime: a Lambda Runtime API client using only Node's standard library.
// Loads the handler named by _HANDLER from LAMBDA_TASK_ROOT (CommonJS or ES module), then loops:
// take the next event, call the handler (async or callback style), post the result or the error.
'use strict';

const net = require('net');
const path = require('path');
const fs = require('fs');
const util = require('util');

const API = process.env.AWS_LAMBDA_RUNTIME_API;
const BASE = '/2018-06-01/runtime';

// The Runtime API client: HTTP/1.1 on one keep-alive TCP connection, on a plain net.Socket.
//
// Why not the `http` module: an environment gets CPU in proportion to its memory (128 MB is 7% of
// a CPU), so a warm invoke's latency there is mostly the runtime's CPU time per invoke, times 14.
// With http.request a trivial invoke cost 0.4-0.5 ms of CPU, three to four times the Python
// runtime's (profiled: ClientRequest and Agent bookkeeping, the parser and IncomingMessage
// streams, socket assignment on a nextTick, a chunked-body writev per POST, and the garbage all of
// that makes, collected on V8's helper threads); this client costs about 0.15 ms. Each request is
// one write, and each response is parsed from the bytes as they are read (`onread` reads into one
// reused buffer: no stream 'data' events, no copies beyond the body's own). Not loading `http`
// also keeps about 0.4 MiB off every idle environment.
//
// Only what the Runtime API needs: one request at a time, no pipelining, bodies framed by
// Content-Length or chunked (hyper sends Content-Length for known-size bodies, chunked may come
// for others) or, failing both, by the end of the connection.
const H_HEAD = 0; // reading the status line and the headers
const H_FIXED = 1; // reading a Content-Length body
const H_CHUNK_SIZE = 2; // reading a chunk-size line
const H_CHUNK_DATA = 3; // reading a chunk's bytes
const H_CHUNK_CRLF = 4; // reading the CRLF after a chunk's bytes
const H_TRAILERS = 5; // reading trailer lines up to the empty one
const H_UNTIL_CLOSE = 6; // no framing: the body ends with the connection
const H_IDLE = 7; // no request outstanding

const MAX_HEAD = 64 * 1024;
const MAX_BODY = 1 << 30; // a Content-Length beyond any event: a broken server, not an allocation
const EMPTY = Buffer.alloc(0);
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
// The same checks as Node's http client, so a bad request id or error type fails as it did with
// `http.request` (and can never inject header lines).
const INVALID_PATH = /[^\u0021-\u00ff]/;
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const NON_ASCII = /[^\x00-\x7f]/;

class RuntimeApiClient {
  constructor(hostport) {
    const colon = hostport.lastIndexOf(':');
    this.host = hostport.slice(0, colon);
    this.port = Number(hostport.slice(colon + 1));
    this.hostHeader = hostport;
    this.socket = null;
    this.used = false; // whether `socket` has carried a request already
    this.readBuffer = Buffer.allocUnsafe(64 * 1024);
    this.pending = null; // the outstanding request: { head, body, resolve, reject, ... }
    this.resetParser(H_IDLE);
  }

  resetParser(state) {
    this.state = state;
    this.headBytes = null; // a head split across reads, copied
    this.status = 0;
    this.headers = null;
    this.closeAfter = false;
    this.body = null; // H_FIXED: the body, preallocated
    this.bodyOffset = 0;
    this.chunks = null; // chunked: the chunks so far
    this.chunkLeft = 0;
    this.line = ''; // a chunk-size or trailer line split across reads
  }

  // Resolves { status, headers (lower-case names), body: Buffer }, as `http` did.
  request(method, urlPath, body, headers) {
    return new Promise((resolve, reject) => {
      // A path or header value that Node's http would refuse throws here, rejecting as it did.
      const p = method === 'GET' && urlPath === NEXT_PATH ? NEXT_REQUEST : buildRequest(method, urlPath, body, headers, this.hostHeader);
      this.pending = { head: p.head, body: p.body, ascii: p.ascii, resolve, reject, retried: false, reused: false, gotBytes: false };
      this.send();
    });
  }

  send() {
    const req = this.pending;
    if (this.socket === null) this.connect();
    req.reused = this.used;
    req.gotBytes = false;
    this.used = true;
    this.resetParser(H_HEAD);
    const s = this.socket;
    // While a request is out the connection keeps the process alive; between requests it does
    // not (see `finish`), as http's keep-alive agent unrefs its idle sockets: a handler that never
    // finishes and leaves nothing pending ends the process, as before.
    s.ref();
    // One write, one syscall (and TCP_NODELAY is on: no Nagle wait behind an earlier segment).
    // Headers are latin1 (as Node writes them), the body UTF-8; when the head is ASCII, as it
    // is in practice, both encodings agree and head and body go out as one string.
    if (req.body === undefined) {
      s.write(req.head, 'latin1');
    } else if (typeof req.body === 'string' && req.ascii) {
      s.write(req.head + req.body, 'utf8');
    } else {
      s.cork();
      s.write(req.head, 'latin1');
      s.write(req.body, 'utf8');
      s.uncork();
    }
  }

  connect() {
    const s = net.connect({
      host: this.host,
      port: this.port,
      noDelay: true,
      onread: { buffer: this.readBuffer, callback: (n, buf) => this.onRead(s, n, buf) },
    });
    this.socket = s;
    this.used = false;
    let error = null;
    s.on('error', (e) => { error = e; });
    s.on('close', () => this.onClose(s, error));
  }

  onClose(s, error) {
    if (s !== this.socket) return; // one we dropped on purpose
    this.socket = null;
    const req = this.pending;
    if (req === null) return; // closed while idle (the server's keep-alive timeout, say): reconnect on the next request
    if (this.state === H_UNTIL_CLOSE) {
      this.finish(Buffer.concat(this.chunks));
      return;
    }
    // A kept-alive connection the server closed just as we reused it: nothing of the request was
    // answered, so it is sent once more on a new connection.
    if (req.reused && !req.gotBytes && !req.retried) {
      req.retried = true;
      this.send();
      return;
    }
    this.pending = null;
    this.resetParser(H_IDLE);
    const e = error || new Error('socket hang up');
    if (!error) e.code = 'ECONNRESET';
    req.reject(e);
  }

  fail(s, message) {
    // The server broke HTTP: the connection cannot be trusted any more.
    const req = this.pending;
    this.pending = null;
    this.resetParser(H_IDLE);
    this.socket = null;
    s.destroy();
    if (req) req.reject(new Error(`runtime API: ${message}`));
  }

  // `buf` is the reused read buffer: whatever must outlive this call is copied out of it.
  onRead(s, n, buf) {
    if (s !== this.socket) return;
    if (this.pending === null) return this.fail(s, 'bytes with no request outstanding');
    this.pending.gotBytes = true;
    let off = 0;
    while (off < n) {
      switch (this.state) {
        case H_HEAD: {
          // Searched in a view of this read only: the buffer holds stale bytes past `n`.
          let view = buf.subarray(off, n);
          let kept = 0;
          if (this.headBytes !== null) {
            kept = this.headBytes.length;
            view = Buffer.concat([this.headBytes, view]);
          }
          const at = view.indexOf(HEAD_END);
          if (at < 0) {
            if (view.length > MAX_HEAD) return this.fail(s, 'response head too large');
            this.headBytes = kept ? view : Buffer.from(view);
            return;
          }
          this.headBytes = null;
          if (!this.parseHead(view.toString('latin1', 0, at))) return this.fail(s, 'malformed response head');
          off += at + HEAD_END.length - kept;
          if (this.state === H_IDLE) {
            // No body. A 1xx response is only a preamble: the real one follows.
            if (this.status < 200) { this.resetParser(H_HEAD); break; }
            return this.complete(s, EMPTY, off, n);
          }
          break;
        }
        case H_FIXED: {
          const take = Math.min(n - off, this.body.length - this.bodyOffset);
          buf.copy(this.body, this.bodyOffset, off, off + take);
          this.bodyOffset += take;
          off += take;
          if (this.bodyOffset === this.body.length) return this.complete(s, this.body, off, n);
          break;
        }
        case H_CHUNK_SIZE:
        case H_CHUNK_CRLF:
        case H_TRAILERS: {
          const nl = buf.indexOf(10, off);
          if (nl < 0 || nl >= n) {
            this.line += buf.toString('latin1', off, n);
            if (this.line.length > MAX_HEAD) return this.fail(s, 'chunk line too long');
            return;
          }
          let line = this.line + buf.toString('latin1', off, nl);
          this.line = '';
          off = nl + 1;
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (this.state === H_CHUNK_CRLF) {
            if (line !== '') return this.fail(s, 'bad chunk end');
            this.state = H_CHUNK_SIZE;
          } else if (this.state === H_CHUNK_SIZE) {
            const semi = line.indexOf(';'); // chunk extensions are ignored
            const hex = (semi < 0 ? line : line.slice(0, semi)).trim();
            if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) return this.fail(s, 'bad chunk size');
            this.chunkLeft = parseInt(hex, 16);
            this.state = this.chunkLeft === 0 ? H_TRAILERS : H_CHUNK_DATA;
          } else if (line === '') { // the empty line after the last chunk (and any trailers)
            return this.complete(s, Buffer.concat(this.chunks), off, n);
          }
          break;
        }
        case H_CHUNK_DATA: {
          const take = Math.min(n - off, this.chunkLeft);
          this.chunks.push(Buffer.from(buf.subarray(off, off + take)));
          this.chunkLeft -= take;
          off += take;
          if (this.chunkLeft === 0) this.state = H_CHUNK_CRLF;
          break;
        }
        case H_UNTIL_CLOSE:
          this.chunks.push(Buffer.from(buf.subarray(off, n)));
          return;
        default:
          return this.fail(s, 'unexpected bytes');
      }
    }
  }

  // The response is whole. Bytes after it would be a second response nobody asked for: the
  // connection is out of step, so it is dropped (the next request opens a new one).
  complete(s, body, off, n) {
    this.finish(body);
    if (off < n && this.socket === s) this.fail(s, 'unexpected bytes after a response');
  }

  // Sets status, headers and the body's framing from the head; false when it is not HTTP.
  parseHead(text) {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]);
    if (m === null) return false;
    this.status = Number(m[2]);
    const headers = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      // Repeated headers are joined with ", ", as http's `res.headers` joins most.
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    this.headers = headers;
    const conn = headers.connection;
    this.closeAfter = conn !== undefined ? /\bclose\b/i.test(conn) : m[1] === '0';
    const te = headers['transfer-encoding'];
    const cl = headers['content-length'];
    if (this.status < 200 || this.status === 204 || this.status === 304) {
      this.state = H_IDLE;
    } else if (te !== undefined && /chunked\s*$/i.test(te)) {
      this.chunks = [];
      this.state = H_CHUNK_SIZE;
    } else if (cl !== undefined) {
      const len = Number(cl);
      if (!/^\d+$/.test(cl) || len > MAX_BODY) return false;
      if (len === 0) {
        this.state = H_IDLE;
      } else {
        this.body = Buffer.allocUnsafe(len);
        this.state = H_FIXED;
      }
    } else {
      this.chunks = [];
      this.closeAfter = true;
      this.state = H_UNTIL_CLOSE;
    }
    return true;
  }

  finish(body) {
    const req = this.pending;
    const res = { status: this.status, headers: this.headers, body };
    const close = this.closeAfter;
    this.pending = null;
    this.resetParser(H_IDLE);
    const s = this.socket;
    if (s !== null) {
      if (close) {
        this.socket = null;
        s.destroy();
      } else {
        s.unref();
      }
    }
    req.resolve(res);
  }
}

function buildRequest(method, urlPath, body, headers, hostHeader) {
  const target = BASE + urlPath;
  if (INVALID_PATH.test(target)) {
    const e = new TypeError('Request path contains unescaped characters');
    e.code = 'ERR_UNESCAPED_CHARACTERS';
    throw e;
  }
  let head = `${method} ${target} HTTP/1.1\r\nHost: ${hostHeader}\r\n`;
  if (headers) {
    for (const name of Object.keys(headers)) {
      const value = String(headers[name]);
      if (INVALID_HEADER_VALUE.test(value)) {
        const e = new TypeError(`Invalid character in header content ["${name}"]`);
        e.code = 'ERR_INVALID_CHAR';
        throw e;
      }
      head += `${name}: ${value}\r\n`;
    }
  }
  if (body !== undefined) head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  head += '\r\n';
  return { head, body, ascii: !NON_ASCII.test(head) };
}

// The long-poll is the same request every time: built once.
const NEXT_PATH = '/invocation/next';
const NEXT_REQUEST = buildRequest('GET', NEXT_PATH, undefined, undefined, API);

const client = new RuntimeApiClient(API);

function request(method, urlPath, body, headers) {
  return client.request(method, urlPath, body, headers);
}

// AWS compat: console lines as Lambda's Node runtime writes them: time, request id, level, message;
// with LoggingConfig's JSON format, one JSON object a line, and the methods below
// AWS_LAMBDA_LOG_LEVEL silent.
let currentRequestId;
const LOG_JSON = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
const LEVEL_ORDER = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];

// An Error as Lambda's JSON logs show one.
function errorFields(e) {
  return {
    errorType: (e && e.constructor && e.constructor.name) || 'UnknownError',
    errorMessage: e.message,
    stackTrace: typeof e.stack === 'string' ? e.stack.split('\n') : e.stack,
  };
}

function jsonReplacer(_key, value) {
  return value instanceof Error ? Object.assign(errorFields(value), value) : value;
}

function jsonLine(level, args) {
  const doc = { timestamp: new Date().toISOString(), level, requestId: currentRequestId };
  if (args.length === 1) {
    doc.message = args[0];
    try {
      return JSON.stringify(doc, jsonReplacer);
    } catch (_) {
      doc.message = util.format(args[0]);
      return JSON.stringify(doc);
    }
  }
  doc.message = util.format(...args);
  const err = args.find((a) => a instanceof Error);
  if (err) Object.assign(doc, errorFields(err));
  return JSON.stringify(doc);
}

function patchConsole() {
  const levels = { trace: 'TRACE', debug: 'DEBUG', log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'FATAL' };
  const wanted = (process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase();
  const min = LOG_JSON && LEVEL_ORDER.includes(wanted) ? LEVEL_ORDER.indexOf(wanted) : 0;
  for (const [name, level] of Object.entries(levels)) {
    if (LEVEL_ORDER.indexOf(level) < min) {
      console[name] = () => {};
    } else if (LOG_JSON) {
      console[name] = (...args) => {
        process.stdout.write(`${jsonLine(level, args)}\n`);
      };
    } else {
      console[name] = (...args) => {
        const msg = util.format(...args).replace(/\n/g, '\r');
        process.stdout.write(`${new Date().toISOString()}\t${currentRequestId || 'undefined'}\t${level}\t${msg}\n`);
      };
    }
  }
}

// The log line of an invocation's error (always written: ERROR is above every level but FATAL).
function logInvokeError(doc) {
  if (LOG_JSON) {
    const line = { timestamp: new Date().toISOString(), level: 'ERROR', requestId: currentRequestId,
      message: { errorType: doc.errorType, errorMessage: doc.errorMessage, stackTrace: doc.trace } };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } else {
    console.error(`Invoke Error \t${JSON.stringify(doc)}`);
  }
}

function errorDoc(err) {
  if (err instanceof Error) {
    return {
      errorType: err.name || 'Error',
      errorMessage: err.message,
      trace: typeof err.stack === 'string' ? err.stack.split('\n') : [],
    };
  }
  return { errorType: typeof err === 'string' ? 'string' : 'object', errorMessage: String(err), trace: [] };
}

async function postError(urlPath, doc) {
  const body = JSON.stringify(doc);
  await request('POST', urlPath, body, {
    'Content-Type': 'application/json',
    'Lambda-Runtime-Function-Error-Type': doc.errorType,
  });
}

// Response streaming, as Lambda's Node.js runtime offers it: a handler wrapped by
// `awslambda.streamifyResponse` is called as `handler(event, responseStream, context)` and its
// bytes go to the Runtime API as they are written (one chunked POST in the `streaming` response
// mode; an error after the first byte is reported in the trailers). `HttpResponseStream.from`
// begins the stream with the HTTP prelude function URLs read (JSON, then 8 NUL bytes).
const STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HTTP_INTEGRATION = 'application/vnd.awslambda.http-integration-response';
globalThis.awslambda = {
  streamifyResponse(handler) {
    handler[STREAMING] = 'response';
    return handler;
  },
  HttpResponseStream: class HttpResponseStream {
    static from(stream, prelude) {
      stream.setContentType(HTTP_INTEGRATION);
      stream.write(JSON.stringify(prelude || {}));
      stream.write(new Uint8Array(8));
      return stream;
    }
  },
};

// A header value as it may go on the wire: anything that could end the line is dropped.
function headerSafe(value, fallback) {
  const v = String(value);
  return INVALID_HEADER_VALUE.test(v) || v === '' ? fallback : v;
}

function responseStream(id) {
  const { Writable } = require('stream');
  let contentType = 'application/octet-stream';
  let socket = null;
  let answered = null;
  const open = () => {
    socket = net.connect({ host: client.host, port: client.port, noDelay: true });
    answered = new Promise((resolve, reject) => {
      let head = '';
      socket.setEncoding('latin1');
      socket.on('data', (d) => {
        head += d;
        if (head.includes('\r\n\r\n')) { socket.destroy(); resolve(head); }
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(head));
    });
    socket.write(`POST ${BASE}/invocation/${id}/response HTTP/1.1\r\nHost: ${API}\r\n`
      + 'Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n'
      + 'Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n'
      + `Content-Type: ${contentType}\r\n\r\n`, 'latin1');
  };
  const stream = new Writable({
    write(chunk, encoding, cb) {
      if (socket === null) open();
      if (chunk.length === 0) return cb();
      socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      socket.write('\r\n', 'latin1', cb);
    },
    final(cb) {
      if (socket === null) open();
      socket.write('0\r\n\r\n', 'latin1', cb);
    },
  });
  stream.setContentType = (type) => {
    if (socket !== null) throw new Error('the content type must be set before the first write');
    contentType = headerSafe(type, contentType);
  };
  stream.started = () => socket !== null;
  // Ends the stream with the error in its trailers (what was written stays written).
  stream.fail = (doc) => {
    if (socket === null) open();
    const type = headerSafe(doc.errorType, 'Error');
    const body = Buffer.from(JSON.stringify(doc)).toString('base64');
    socket.write(`0\r\nLambda-Runtime-Function-Error-Type: ${type}\r\nLambda-Runtime-Function-Error-Body: ${body}\r\n\r\n`, 'latin1');
  };
  stream.answered = () => answered;
  return stream;
}

async function invokeStreaming(handler, event, context, id, base) {
  const stream = responseStream(id);
  try {
    await handler(event, stream, context);
    // AWS compat: the handler must end its stream (Lambda's runtime fails it otherwise).
    if (!stream.writableEnded) throw 'Response stream is not finished.';
    if (!stream.writableFinished) {
      await new Promise((resolve, reject) => {
        stream.once('finish', resolve);
        stream.once('error', reject);
      });
    }
    await stream.answered();
  } catch (e) {
    const doc = errorDoc(e);
    logInvokeError(doc);
    if (!stream.started()) {
      await postError(`${base}/error`, doc);
      return;
    }
    stream.fail(doc);
    await stream.answered();
  }
}

class InitError extends Error {
  constructor(type, message, stack) {
    super(message);
    this.name = type;
    if (stack) this.stack = stack;
  }
}

// `url` is only needed to import ES modules: loaded then.
function fileUrl(file) {
  return require('url').pathToFileURL(file).href;
}

async function loadHandler(taskRoot, spec) {
  const dot = spec.lastIndexOf('.');
  if (dot < 1) throw new InitError('Runtime.MalformedHandlerName', `Bad handler ${spec}`);
  const modulePath = spec.slice(0, dot);
  const fnPath = spec.slice(dot + 1);
  const base = path.resolve(taskRoot, modulePath);
  let file;
  for (const ext of ['.js', '.mjs', '.cjs']) {
    if (fs.existsSync(base + ext)) { file = base + ext; break; }
  }
  if (!file) {
    throw new InitError('Runtime.ImportModuleError', `Error: Cannot find module '${modulePath}'`);
  }
  let mod;
  try {
    if (file.endsWith('.mjs')) {
      mod = await import(fileUrl(file));
    } else {
      try {
        mod = require(file);
      } catch (e) {
        if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
          mod = await import(fileUrl(file));
        } else {
          throw e;
        }
      }
    }
  } catch (e) {
    if (e instanceof SyntaxError) throw new InitError('Runtime.UserCodeSyntaxError', `${e.name}: ${e.message}`, e.stack);
    if (e && e.code === 'MODULE_NOT_FOUND') throw new InitError('Runtime.ImportModuleError', `Error: ${e.message}`, e.stack);
    throw e;
  }
  let fn = mod;
  for (const part of fnPath.split('.')) fn = fn ? fn[part] : undefined;
  if (fn === undefined && mod && mod.default) fn = mod.default[fnPath];
  if (typeof fn !== 'function') {
    throw new InitError('Runtime.HandlerNotFound', `${spec} is undefined or not exported`);
  }
  return fn;
}

function invokeHandler(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const done = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err); else resolve(result);
    };
    context.done = done;
    context.succeed = (r) => done(null, r);
    context.fail = (e) => done(e || new Error('handled'));
    let ret;
    try {
      ret = handler(event, context, done);
    } catch (e) {
      done(e);
      return;
    }
    if (ret && typeof ret.then === 'function') {
      ret.then((r) => done(null, r), (e) => done(e));
    } else if (handler.length < 3 && ret !== undefined) {
      done(null, ret);
    } else if (handler.length < 3) {
      done(null, null);
    }
  });
}

async function main() {
  patchConsole();
  const taskRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  let handler;
  try {
    handler = await loadHandler(taskRoot, process.env._HANDLER || '');
  } catch (e) {
    const doc = errorDoc(e);
    console.error(`${doc.errorType}: ${doc.errorMessage}`);
    await postError('/init/error', doc);
    process.exit(1);
  }
  for (;;) {
    const next = await request('GET', NEXT_PATH);
    if (next.status !== 200) throw new Error(`runtime API answered ${next.status} to next`);
    const h = next.headers;
    const id = h['lambda-runtime-aws-request-id'];
    currentRequestId = id;
    if (h['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = h['lambda-runtime-trace-id'];
    else delete process.env._X_AMZN_TRACE_ID;
    const deadline = Number(h['lambda-runtime-deadline-ms']);
    const context = {
      awsRequestId: id,
      invokedFunctionArn: h['lambda-runtime-invoked-function-arn'],
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      clientContext: h['lambda-runtime-client-context'] ? JSON.parse(h['lambda-runtime-client-context']) : undefined,
      identity: h['lambda-runtime-cognito-identity'] ? JSON.parse(h['lambda-runtime-cognito-identity']) : undefined,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(deadline - Date.now(), 0),
    };
    const base = `/invocation/${id}`;
    let event;
    try {
      event = next.body.length ? JSON.parse(next.body.toString('utf8')) : {};
    } catch (e) {
      await postError(`${base}/error`, { errorType: 'Runtime.UnmarshalError', errorMessage: `Unable to parse event: ${e.message}`, trace: [] });
      continue;
    }
    if (handler[STREAMING] === 'response') {
      await invokeStreaming(handler, event, context, id, base);
      continue;
    }
    try {
      const result = await invokeHandler(handler, event, context);
      const body = result === undefined ? 'null' : JSON.stringify(result);
      await request('POST', `${base}/response`, body === undefined ? 'null' : body, { 'Content-Type': 'application/json' });
    } catch (e) {
      const doc = errorDoc(e);
      logInvokeError(doc);
      await postError(`${base}/error`, doc);
    }
  }
}

main().catch((e) => {
  process.stderr.write(`nimbus runtime: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
