// The native notify sockets against a foreign peer (python's socket module):
// what a real sender's pid looks like to our receiver, what our sender puts
// on the wire, the abstract namespace, errors with their codes, and that
// descriptors (ours, and ones a sender attaches) do not leak.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { NotifyReceiver, notifyAvailable, sendNotify, type NotifyMessage } from '../../src/notify/socket.js';
import { killAll, tempDir } from '../helpers/supervise.js';
import { waitFor } from '../helpers/wait-for.js';

after(killAll);

/** Runs python3 with `code`; resolves with its pid and output once it exits. */
function python(code: string, args: string[] = []): Promise<{ pid: number; stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', code, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.on('error', reject);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ pid: child.pid ?? -1, stdout, code });
    });
  });
}

const SEND = `
import socket, sys, os
path = sys.argv[1]
address = '\\0' + path[1:] if path.startswith('@') else path
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for message in sys.argv[2:]:
    s.sendto(message.encode(), address)
`;

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

function collect(path: string): { receiver: NotifyReceiver; messages: NotifyMessage[] } {
  const messages: NotifyMessage[] = [];
  return { receiver: NotifyReceiver.listen(path, (message) => messages.push(message)), messages };
}

const hasPython = spawnSync('python3', ['--version']).status === 0;

describe('notify sockets', { skip: !notifyAvailable() && 'the native addon is not built', timeout: 60_000 }, () => {
  test('a message from another process arrives with that process’s pid, uid and assignments', { skip: !hasPython && 'no python3' }, async () => {
    const path = join(tempDir(), 'notify.sock');
    const { receiver, messages } = collect(path);
    try {
      const sender = await python(SEND, [path, 'READY=1\nSTATUS=warming up', 'WATCHDOG=1']);
      assert.equal(sender.code, 0);
      await waitFor(() => messages.length === 2, { message: 'two datagrams' });
      assert.deepEqual(
        messages.map((m) => m.pid),
        [sender.pid, sender.pid],
      );
      assert.equal(messages[0]?.uid, process.getuid?.());
      assert.equal(messages[0]?.fields.get('READY'), '1');
      assert.equal(messages[0]?.fields.get('STATUS'), 'warming up');
      assert.equal(messages[1]?.text, 'WATCHDOG=1');
      assert.equal(messages[0]?.truncated, false);
    } finally {
      receiver.close();
    }
    assert.equal(existsSync(path), false, 'close removes the socket file');
  });

  test('sendNotify reaches a foreign receiver, in the abstract namespace too', { skip: !hasPython && 'no python3' }, async () => {
    for (const path of [join(tempDir(), 'py.sock'), `@supervise-test-${process.pid}-${Date.now()}`]) {
      const address = path.startsWith('@') ? `'\\0' + ${JSON.stringify(path.slice(1))}` : JSON.stringify(path);
      const receiverCode = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(${address})
print('bound', flush=True)
s.settimeout(8)
print(s.recv(8192).decode(), flush=True)
`;
      const child = spawn('python3', ['-c', receiverCode], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const exited = new Promise((resolve) => child.on('exit', resolve));
      try {
        await waitFor(() => out.includes('bound'), { message: 'python bound its socket' });
        sendNotify(path, 'STOPPING=1\nSTATUS=bye');
        await exited;
        assert.equal(out, 'bound\nSTOPPING=1\nSTATUS=bye\n');
      } finally {
        child.kill('SIGKILL');
      }
    }
  });

  test('our own sender and receiver in the abstract namespace: the pid is ours', async () => {
    const path = `@supervise-test-${process.pid}-self`;
    const { receiver, messages } = collect(path);
    try {
      sendNotify(path, 'READY=1');
      await waitFor(() => messages.length === 1, { message: 'one datagram' });
      assert.equal(messages[0]?.pid, process.pid);
    } finally {
      receiver.close();
    }
  });

  test('errors carry their code and the receiver keeps working', async () => {
    const dir = tempDir();
    assert.throws(() => sendNotify(join(dir, 'nobody.sock'), 'READY=1'), { code: 'ENOENT' });
    assert.throws(() => sendNotify(`/${'x'.repeat(200)}`, 'READY=1'), { code: 'ENAMETOOLONG' });
    assert.throws(() => sendNotify('', 'READY=1'), { code: 'EINVAL' });
    const path = join(dir, 'busy.sock');
    const { receiver, messages } = collect(path);
    try {
      assert.throws(() => NotifyReceiver.listen(path, () => {}), { code: 'EADDRINUSE' });
      sendNotify(path, 'READY=1');
      await waitFor(() => messages.length === 1, { message: 'a datagram after a failed second bind' });
    } finally {
      receiver.close();
    }
    // The file was removed by close: a closed receiver's path refuses again.
    assert.throws(() => sendNotify(path, 'READY=1'), { code: 'ENOENT' });
  });

  test('a datagram longer than 4096 bytes arrives marked truncated', async () => {
    const path = `@supervise-test-${process.pid}-long`;
    const { receiver, messages } = collect(path);
    try {
      sendNotify(path, `STATUS=${'y'.repeat(6000)}`);
      sendNotify(path, `STATUS=${'z'.repeat(4089)}`); // 4096 bytes exactly: whole
      await waitFor(() => messages.length === 2, { message: 'two datagrams' });
      assert.equal(messages[0]?.truncated, true);
      assert.equal(messages[0]?.text.length, 4096);
      assert.equal(messages[1]?.truncated, false);
      assert.equal(messages[1]?.fields.get('STATUS')?.length, 4089);
    } finally {
      receiver.close();
    }
  });

  test('no descriptor leaks: a hundred receivers opened and closed, and descriptors a sender attaches', { skip: !hasPython && 'no python3' }, async () => {
    await new Promise((resolve) => setTimeout(resolve, 50)); // the previous test's sockets finish closing
    const before = openFds();
    for (let i = 0; i < 100; i++) {
      const receiver = NotifyReceiver.listen(`@supervise-test-${process.pid}-leak-${i}`, () => {});
      sendNotify(receiver.path, 'READY=1');
      receiver.close();
    }
    // uv_close finishes in the loop's close phase, a turn later.
    await waitFor(() => openFds() === before, { timeoutMs: 2000, message: `${before} descriptors open again (receivers closed their sockets)` });
    // The error paths close what they opened: sends nobody receives, binds to a taken name.
    const taken = NotifyReceiver.listen(`@supervise-test-${process.pid}-taken`, () => {});
    for (let i = 0; i < 50; i++) {
      assert.throws(() => sendNotify(`@supervise-test-${process.pid}-nobody`, 'READY=1'), { code: 'ECONNREFUSED' });
      assert.throws(() => NotifyReceiver.listen(taken.path, () => {}), { code: 'EADDRINUSE' });
    }
    taken.close();
    await waitFor(() => openFds() === before, { timeoutMs: 2000, message: `${before} descriptors open after failed sends and binds` });

    const path = `@supervise-test-${process.pid}-fds`;
    const { receiver, messages } = collect(path);
    try {
      const withFds = `
import array, socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
fds = [os.open('/dev/null', os.O_RDONLY) for _ in range(3)]
for _ in range(10):
    s.sendmsg([b'FDSTORE=1'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds))], 0, '\\0' + sys.argv[1][1:])
`;
      const sender = await python(withFds, [path]);
      assert.equal(sender.code, 0);
      await waitFor(() => messages.length === 10, { message: 'ten datagrams with descriptors' });
      assert.equal(openFds(), before + 1, 'only the receiver’s own socket is open: the 30 attached descriptors were closed');
    } finally {
      receiver.close();
    }
  });

  test('closing from inside the callback stops delivery at once', async () => {
    const path = `@supervise-test-${process.pid}-stop`;
    const seen: string[] = [];
    const receiver = NotifyReceiver.listen(path, (message) => {
      seen.push(message.text);
      receiver.close();
    });
    for (let i = 0; i < 5; i++) sendNotify(path, `N=${i}`);
    await waitFor(() => seen.length > 0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(seen, ['N=0']);
  });

  test('an unref()ed receiver lets the process exit; a referenced one keeps it alive', async () => {
    const module = new URL('../../src/notify/socket.js', import.meta.url).href;
    const run = (unref: boolean) =>
      spawnSync(process.execPath, ['--input-type=module', '-e', `import { NotifyReceiver } from '${module}'; const r = NotifyReceiver.listen('@supervise-test-' + process.pid, () => {}); ${unref ? 'r.unref();' : ''}`], {
        timeout: 3000,
      });
    assert.equal(run(true).status, 0);
    assert.equal(run(false).signal, 'SIGTERM', 'killed by the timeout: the open socket held the loop');
  });
});
