#!/usr/bin/env node
// A JSON-lines bridge to VS Code's own DAP client (DebugClient of @vscode/debugadapter-testsupport),
// so the Python tests drive `ttd dap` through the client VS Code's adapter authors test with, not
// through a wire codec of ours. tests/support/dap_client.py is the other end.
//
//   node bridge.js --adapter '["python", "-m", "ttd.cli.main", "dap"]' [--cwd DIR]
//   node bridge.js --port N
//
// stdin, one JSON object a line, each with an "id"; they run concurrently (a launch may answer
// only after configurationDone), each answered by one line {"id", "ok", ...} on stdout:
//   {"op": "request", "command", "arguments", "timeout"}  -> {"response": <the whole response>}
//        (a response with success=false is ok=true too: the caller decides what an error means)
//   {"op": "wait_event", "event", "timeout"}  -> {"event": ...}: the oldest event of that type
//        (or of any type of a list) not yet taken (events are buffered from the start, so none is missed between requests)
//   {"op": "events"}   -> {"events": [...]}: every event received so far, taken or not
//   {"op": "stderr"}   -> {"stderr": "..."}: what the adapter wrote on stderr (stdio mode)
//   {"op": "stop"}     -> disconnect, stop the adapter, then exit
'use strict';

const cp = require('child_process');
const readline = require('readline');
const { DebugClient } = require('@vscode/debugadapter-testsupport');

/** DebugClient spawns `runtime executable`; `ttd dap` is several words, so spawn the argv. */
class ArgvDebugClient extends DebugClient {
  constructor(argv, spawnOptions) {
    super(argv[0], argv[1] || '', 'ttd', spawnOptions, false);
    this.argv = argv;
    this.stderrText = '';
    this.exitInfo = null;
  }

  start(port) {
    if (typeof port === 'number') {
      return super.start(port);
    }
    return new Promise((resolve, reject) => {
      const proc = cp.spawn(this.argv[0], this.argv.slice(1), this._spawnOptions);
      this._adapterProcess = proc;
      proc.stderr.on('data', (d) => { this.stderrText += d.toString(); });
      proc.on('error', reject);
      proc.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        this.emit('_adapterExit', { type: 'event', event: '_adapterExit', body: this.exitInfo });
      });
      this.connect(proc.stdout, proc.stdin);
      resolve();
    });
  }
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    out[argv[i].replace(/^--/, '')] = argv[i + 1];
  }
  return out;
}

const opts = parseArgs(process.argv.slice(2));
const client = opts.port !== undefined
  ? new ArgvDebugClient(['unused'], {})
  : new ArgvDebugClient(JSON.parse(opts.adapter), { cwd: opts.cwd || process.cwd(), env: process.env });

// Buffer every event: a 'stopped' may arrive before the test asks for it.
const events = [];
const taken = new Set();
const waiters = [];
const emit = client.emit.bind(client);
client.emit = (name, ev) => {
  if (ev && ev.type === 'event') {
    events.push(ev);
    for (let i = 0; i < waiters.length; i++) {
      if (waiters[i].names.includes(name)) {
        const w = waiters.splice(i, 1)[0];
        taken.add(events.length - 1);
        w.resolve(ev);
        break;
      }
    }
  }
  return emit(name, ev);
};

function waitEvent(name, timeoutMs) {
  const names = Array.isArray(name) ? name : [name];
  for (let i = 0; i < events.length; i++) {
    if (!taken.has(i) && names.includes(events[i].event)) {
      taken.add(i);
      return Promise.resolve(events[i]);
    }
  }
  return new Promise((resolve, reject) => {
    const w = { names, resolve: (ev) => { clearTimeout(w.timer); resolve(ev); } };
    w.timer = setTimeout(() => {
      const at = waiters.indexOf(w);
      if (at >= 0) waiters.splice(at, 1);
      reject(new Error(`no event '${names.join("' or '")}' received after ${timeoutMs} ms`));
    }, timeoutMs);
    waiters.push(w);
  });
}

function request(command, args, timeoutMs) {
  // doSend, not send: send() keeps only response.message of an error, and the adapter's
  // error text (body.error.format) is what a user would see.
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no response to '${command}' after ${timeoutMs} ms`)), timeoutMs);
    client.doSend(command, args, (response) => { clearTimeout(timer); resolve(response); });
  });
}

function answer(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function handle(msg) {
  const timeout = msg.timeout || 30000;
  switch (msg.op) {
    case 'request':
      return { response: await request(msg.command, msg.arguments, timeout) };
    case 'wait_event':
      return { event: await waitEvent(msg.event, timeout) };
    case 'events':
      return { events };
    case 'stderr':
      return { stderr: client.stderrText, exit: client.exitInfo };
    case 'stop':
      await Promise.race([client.stop(), new Promise((r) => setTimeout(r, timeout))]);
      return { stderr: client.stderrText };
    default:
      throw new Error(`unknown op ${JSON.stringify(msg.op)}`);
  }
}

async function main() {
  try {
    await client.start(opts.port !== undefined ? Number(opts.port) : undefined);
  } catch (err) {
    answer({ id: 0, ok: false, error: `cannot start the adapter: ${err.message}` });
    process.exit(2);
  }
  answer({ id: 0, ok: true, ready: true });
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (err) {
      answer({ id: null, ok: false, error: `bad JSON line: ${err.message}` });
      return;
    }
    handle(msg).then(
      (res) => {
        answer({ id: msg.id, ok: true, ...res });
        if (msg.op === 'stop') process.exit(0);
      },
      (err) => answer({ id: msg.id, ok: false, error: err.message }));
  });
  rl.on('close', () => {
    client.stop().finally(() => process.exit(0));
  });
}

main();
