// What happens around the sends: the process exits by itself after shutdown, a throwing
// callback does not bring the process down, and a shut-down producer refuses work.

import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { test } from 'node:test'

import { Producer } from '../index.js'
import { namesrv, readTopic, unique } from './support.mjs'

test('a script that sends and shuts down exits on its own, promptly', async () => {
  const topic = unique('NodeExit')
  const child = spawn(process.execPath, [new URL('./fixtures/send-and-exit.mjs', import.meta.url).pathname, topic], {
    env: { ...process.env, NAMESRV_ADDR: namesrv() },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let stdout = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  const killer = setTimeout(() => child.kill('SIGKILL'), 30000)
  const [code, signal] = await once(child, 'exit')
  const exitedAt = Date.now()
  clearTimeout(killer)

  assert.equal(signal, null, 'the script had to be killed: something kept it alive')
  assert.equal(code, 0)
  const shutDownAt = Number(stdout.match(/shut down at (\d+)/)[1])
  assert.ok(exitedAt - shutDownAt < 3000, `exited ${exitedAt - shutDownAt} ms after shutdown`)
  assert.equal(readTopic(topic, 3).length, 3)
})

test('held callbacks (hooks, selectors, a check function) do not keep the process alive', async () => {
  const topic = unique('NodeExitCallbacks')
  const child = spawn(process.execPath, [new URL('./fixtures/callbacks-and-exit.mjs', import.meta.url).pathname, topic], {
    env: { ...process.env, NAMESRV_ADDR: namesrv() },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let stdout = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  const killer = setTimeout(() => child.kill('SIGKILL'), 30000)
  const [code, signal] = await once(child, 'exit')
  const exitedAt = Date.now()
  clearTimeout(killer)

  assert.equal(signal, null, 'the script had to be killed: something kept it alive')
  assert.equal(code, 0)
  const doneAt = Number(stdout.match(/done at (\d+)/)[1])
  assert.ok(exitedAt - doneAt < 3000, `exited ${exitedAt - doneAt} ms after its last line`)
})

test('an exception thrown by a send callback becomes a warning, not a crash', async () => {
  const producer = new Producer({ group: unique('node_throw'), namesrv: namesrv() })
  await producer.start()
  try {
    const warning = once(process, 'warning')
    producer.sendCallback({ topic: unique('NodeThrow'), body: 'x' }, () => {
      throw new Error('thrown by the callback')
    })
    const [w] = await warning
    assert.equal(w.name, 'RmqCallbackError')
    assert.match(w.message, /thrown by the callback/)
    // The producer goes on working.
    const result = await producer.send({ topic: unique('NodeThrow'), body: 'after' })
    assert.equal(result.status, 'SEND_OK')
  } finally {
    await producer.shutdown()
  }
})

test('a shut-down producer refuses sends and a second shutdown is harmless', async () => {
  const producer = new Producer({ group: unique('node_after'), namesrv: namesrv() })
  await producer.start()
  await producer.shutdown()
  await producer.shutdown()
  const err = await producer.send({ topic: unique('NodeAfter'), body: 'x' }).catch((e) => e)
  assert.equal(err.code, 'ILLEGAL_STATE')
  let calls = 0
  assert.throws(() => producer.sendCallback({ topic: unique('NodeAfter'), body: 'x' }, () => calls++), {
    code: 'ILLEGAL_STATE',
  })
  await new Promise((resolve) => setTimeout(resolve, 100))
  assert.equal(calls, 0, 'a refused send called back')
})

test('the name server comes from NAMESRV_ADDR when the options give none', async () => {
  const saved = process.env.NAMESRV_ADDR
  process.env.NAMESRV_ADDR = namesrv()
  const producer = new Producer({ group: unique('node_env') })
  try {
    await producer.start()
    const result = await producer.send({ topic: unique('NodeEnv'), body: 'x' })
    assert.equal(result.status, 'SEND_OK')
  } finally {
    await producer.shutdown()
    if (saved === undefined) delete process.env.NAMESRV_ADDR
    else process.env.NAMESRV_ADDR = saved
  }
})

test('flush() and shutdown() resolve after the callback or Promise of every async send begun before them', async () => {
  const topic = unique('NodeSettled')
  const producer = new Producer({ group: unique('node_settled'), namesrv: namesrv() })
  await producer.start()
  let settled = 0
  const settle = () => {
    settled += 1
  }
  const sendMany = (n) => {
    for (let i = 0; i < n; i += 1) {
      producer.sendCallback({ topic, body: `callback ${i}` }, settle)
      producer.sendWithShardingKey({ topic, body: `promise ${i}` }, `key ${i}`).then(settle, settle)
    }
  }
  try {
    // Many outcomes reach the JS thread at once, each through its own channel; the flush's
    // own outcome must not overtake any of them.
    for (let round = 1; round <= 10; round += 1) {
      sendMany(100)
      await producer.flush(30000)
      assert.equal(settled, round * 200, `flush() resolved with ${round * 200 - settled} outcomes still on their way, round ${round}`)
    }
    sendMany(100)
  } finally {
    await producer.shutdown()
  }
  assert.equal(settled, 2200, 'shutdown() resolved before every outcome had settled')
})
