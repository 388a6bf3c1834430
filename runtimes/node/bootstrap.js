// Nimbus's Node.js runtime: a Lambda Runtime API client using only Node's standard library.
// Loads the handler named by _HANDLER from LAMBDA_TASK_ROOT (CommonJS or ES module), then loops:
// take the next event, call the handler (async or callback style), post the result or the error.
'use strict';

const http = require('http');
const path = require('path');
const fs = require('fs');
const util = require('util');
const { pathToFileURL } = require('url');

const [HOST, PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(':');
const BASE = '/2018-06-01/runtime';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, urlPath, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port: Number(PORT), method, path: BASE + urlPath, agent, headers: headers || {} },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// AWS compat: console lines as Lambda's Node runtime writes them: time, request id, level, message.
let currentRequestId;
function patchConsole() {
  const levels = { log: 'INFO', info: 'INFO', warn: 'WARN', error: 'ERROR', debug: 'DEBUG', trace: 'TRACE' };
  for (const [name, level] of Object.entries(levels)) {
    console[name] = (...args) => {
      const msg = util.format(...args).replace(/\n/g, '\r');
      process.stdout.write(`${new Date().toISOString()}\t${currentRequestId || 'undefined'}\t${level}\t${msg}\n`);
    };
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

class InitError extends Error {
  constructor(type, message, stack) {
    super(message);
    this.name = type;
    if (stack) this.stack = stack;
  }
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
      mod = await import(pathToFileURL(file).href);
    } else {
      try {
        mod = require(file);
      } catch (e) {
        if (e && (e.code === 'ERR_REQUIRE_ESM' || e.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
          mod = await import(pathToFileURL(file).href);
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
    const next = await request('GET', '/invocation/next');
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
    try {
      const result = await invokeHandler(handler, event, context);
      const body = result === undefined ? 'null' : JSON.stringify(result);
      await request('POST', `${base}/response`, body === undefined ? 'null' : body, { 'Content-Type': 'application/json' });
    } catch (e) {
      const doc = errorDoc(e);
      console.error(`Invoke Error \t${JSON.stringify(doc)}`);
      await postError(`${base}/error`, doc);
    }
  }
}

main().catch((e) => {
  process.stderr.write(`nimbus runtime: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
