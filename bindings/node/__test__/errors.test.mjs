// Every error code, each produced by a real failure: the real cluster where it can produce it,
// a fake server (silent, hanging up, answering nonsense) where a healthy cluster cannot.
// INTERNAL reports a bug (a caught panic): the core's test switch `test.panic_in_sends` makes one.

import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'

import { Producer } from '../index.js'
import { closedPort, fakeCluster, namesrv, sendAsync, unique } from './support.mjs'

async function rejection(promise) {
  try {
    await promise
  } catch (err) {
    return err
  }
  assert.fail('expected a rejection')
}

function thrown(fn) {
  try {
    fn()
  } catch (err) {
    return err
  }
  assert.fail('expected an exception')
}

/** A started producer on the real cluster, shut down once `use` is done with it. */
async function withProducer(options, use) {
  const producer = new Producer({ group: unique('node_err'), namesrv: namesrv(), ...options })
  await producer.start()
  try {
    return await use(producer)
  } finally {
    await producer.shutdown()
  }
}

/** The same against a fake cluster whose broker behaves as `behaviour`. */
async function withFake(fakeOptions, producerOptions, use) {
  const fake = await fakeCluster(fakeOptions)
  const producer = new Producer({ group: unique('node_fake'), namesrv: fake.namesrv, ...producerOptions })
  await producer.start()
  try {
    return await use(producer)
  } finally {
    await producer.shutdown()
    await fake.close()
  }
}

const message = (body = 'x') => ({ topic: unique('NodeErr'), body })

/** How to make each code happen; each returns the error it got. */
const failures = {
  INVALID_ARGUMENT: async () => thrown(() => new Producer({ group: 'g', sendTimeoutMillis: 5 })),
  INVALID_MESSAGE: () =>
    withProducer({}, (p) => rejection(p.send({ ...message(), properties: { UNIQ_KEY: 'mine' } }))),
  INVALID_TOPIC: () => withProducer({}, (p) => rejection(p.send({ topic: 'no spaces allowed', body: 'x' }))),
  RESERVED_TOPIC: () => withProducer({}, (p) => rejection(p.send({ topic: 'SCHEDULE_TOPIC_XXXX', body: 'x' }))),
  EMPTY_BODY: () => withProducer({}, (p) => rejection(p.send(message(Buffer.alloc(0))))),
  MESSAGE_TOO_LARGE: () => withProducer({ maxMessageSize: 16 }, (p) => rejection(p.send(message('x'.repeat(17))))),
  ILLEGAL_STATE: () => rejection(new Producer({ group: unique('node_err'), namesrv: namesrv() }).send(message())),
  GROUP_ALREADY_EXISTS: async () => {
    const group = unique('node_dup')
    const first = new Producer({ group, namesrv: namesrv() })
    const second = new Producer({ group, namesrv: namesrv() })
    await first.start()
    try {
      return await rejection(second.start())
    } finally {
      await first.shutdown()
    }
  },
  NO_NAME_SERVER: async () => {
    // In a child process, so that this process's NAMESRV_ADDR stays as it is.
    const script = `
      const { Producer } = require(${JSON.stringify(new URL('../index.js', import.meta.url).pathname)})
      new Producer({ group: 'node_no_namesrv' }).start().then(
        () => console.log(JSON.stringify({ started: true })),
        (err) => console.log(JSON.stringify({ ...err, message: err.message, isError: err instanceof Error })),
      )`
    const env = { ...process.env }
    delete env.NAMESRV_ADDR
    const { isError, ...err } = JSON.parse(execFileSync(process.execPath, ['-e', script], { env, encoding: 'utf8' }))
    assert.equal(isError, true)
    return err
  },
  NO_ROUTE: () =>
    withProducer({ createTopicKey: 'NoSuchTemplateTopic', sendTimeoutMs: 2000 }, (p) => rejection(p.send(message()))),
  BROKER: () =>
    // The broker refuses bodies over its own 4 MiB limit; ours is raised and compression off.
    withProducer({ maxMessageSize: 8 * 1024 * 1024, compressThreshold: 64 * 1024 * 1024 }, (p) =>
      rejection(p.send(message(randomBytes(5 * 1024 * 1024)))),
    ),
  CONNECT: async () => {
    const brokerAddr = `127.0.0.1:${await closedPort()}`
    return withFake({ brokerAddr }, {}, (p) => rejection(p.send(message())))
  },
  TIMEOUT: () => withFake({ behaviour: 'silent' }, { sendTimeoutMs: 500 }, (p) => rejection(p.send(message()))),
  NETWORK: () => withFake({ behaviour: 'close' }, {}, (p) => rejection(p.send(message()))),
  PROTOCOL: () => withFake({ behaviour: 'hollow' }, {}, (p) => rejection(p.send(message()))),
  TOO_MANY_REQUESTS: () =>
    withFake({ behaviour: 'silent' }, { sendTimeoutMs: 500, maxInFlightPerConnection: 1 }, async (p) => {
      const outcomes = await Promise.allSettled([p.send(message()), p.send(message()), p.send(message())])
      return outcomes.map((o) => o.reason).find((err) => err?.code === 'TOO_MANY_REQUESTS') ?? outcomes[0].reason
    }),
  INTERNAL: async () => {
    // The first async send panics inside the library's task: its callback is called once, with
    // INTERNAL; the next send runs (and times out on the silent server).
    const options = { 'test.panic_in_sends': 1, sendTimeoutMs: 500 }
    return withFake({ behaviour: 'silent' }, options, async (p) => {
      let calls = 0
      const err = await new Promise((resolve) => p.sendCallback(message(), (e) => { calls += 1; resolve(e) }))
      assert.equal((await rejection(sendAsync(p, message()))).code, 'TIMEOUT')
      assert.equal(calls, 1)
      return err
    })
  },
  SHUTDOWN: async () => {
    const fake = await fakeCluster({ behaviour: 'silent' })
    const producer = new Producer({
      group: unique('node_shutdown'),
      namesrv: fake.namesrv,
      sendTimeoutMs: 60000,
      shutdownTimeoutMs: 100,
    })
    await producer.start()
    // An async send: shutdown fails those still in flight after shutdownTimeoutMs.
    const pending = rejection(sendAsync(producer, message()))
    await new Promise((resolve) => setTimeout(resolve, 200))
    const started = Date.now()
    await producer.shutdown()
    const err = await pending
    assert.ok(Date.now() - started < 5000, 'the pending send outlived shutdown')
    await fake.close()
    return err
  },
}

for (const [code, produce] of Object.entries(failures)) {
  test(`${code} comes from a real failure as an Error with that code`, async () => {
    const err = await produce()
    if (!(err instanceof Error) && code !== 'NO_NAME_SERVER') assert.fail(`not an Error: ${err}`)
    assert.equal(err.code, code, `${err.code}: ${err.message}`)
    assert.equal(typeof err.message, 'string')
    assert.ok(err.message.length > 0)
    assert.equal(typeof err.retriable, 'boolean')
  })
}

test('a broker refusal carries the response code, the remark and the address', async () => {
  const err = await failures.BROKER()
  assert.equal(err.responseCode, 13) // MESSAGE_ILLEGAL
  assert.match(err.remark, /illegal/i)
  assert.match(err.brokerAddr, /^127\.0\.0\.1:\d+$/)
  assert.equal(err.retriable, true)
})

test('local failures carry no broker fields', async () => {
  const err = await failures.EMPTY_BODY()
  assert.equal(err.responseCode, undefined)
  assert.equal(err.remark, undefined)
  assert.equal(err.retriable, false)
})

test('sendCallback reports failures through the callback, as (err, null)', async () => {
  const [err, result] = await withFake({ behaviour: 'silent' }, { sendTimeoutMs: 500 }, (p) => new Promise((resolve) => {
    p.sendCallback(message(), (...args) => resolve(args))
  }))
  assert.ok(err instanceof Error)
  assert.equal(err.code, 'TIMEOUT')
  assert.equal(result, null)
})

test('a refused async send rejects or throws at once, and its callback never fires', async () => {
  let calls = 0
  const count = () => calls++
  const notStarted = new Producer({ group: unique('node_refused'), namesrv: namesrv() })
  for (const start of [
    () => notStarted.sendCallback(message(), count),
    () => notStarted.sendBatchCallback([message()], count),
    () => notStarted.requestCallback(message(), 1000, count),
  ]) {
    assert.equal(thrown(start).code, 'ILLEGAL_STATE')
  }
  for (const refused of [
    notStarted.sendWithShardingKey(message(), 'k'),
    notStarted.sendWithSelector(message(), count),
    notStarted.request(message(), 1000),
  ]) {
    assert.equal((await rejection(refused)).code, 'ILLEGAL_STATE')
  }

  await withProducer({ maxMessageSize: 16 }, async (p) => {
    assert.equal(thrown(() => p.sendCallback(message(''), count)).code, 'EMPTY_BODY')
    assert.equal(thrown(() => p.sendCallback(message('x'.repeat(17)), count)).code, 'MESSAGE_TOO_LARGE')
    assert.equal(thrown(() => p.sendBatchCallback([message('')], count)).code, 'EMPTY_BODY')
    assert.equal(thrown(() => p.requestCallback(message(''), 1000, count)).code, 'EMPTY_BODY')
    assert.equal(thrown(() => p.sendCallback(null, count)).code, 'INVALID_ARGUMENT')
    assert.equal((await rejection(p.sendWithShardingKey(message(''), 'k'))).code, 'EMPTY_BODY')
    assert.equal((await rejection(p.request(message(''), 1000))).code, 'EMPTY_BODY')
    await p.flush(1000) // nothing refused is in flight
  })
  await new Promise((resolve) => setTimeout(resolve, 200))
  assert.equal(calls, 0, 'a refused call called back (or a selector ran)')
})

test('bad arguments are INVALID_ARGUMENT: rejected by Promise methods, thrown by the others', async () => {
  const producer = new Producer({ group: unique('node_args'), namesrv: namesrv() })
  await producer.start()
  try {
    for (const bad of [undefined, null, 'topic', { topic: 5, body: 'x' }, { topic: 'T' }, { topic: 'T', body: 5 }]) {
      assert.equal((await rejection(producer.send(bad))).code, 'INVALID_ARGUMENT', JSON.stringify(bad))
      assert.equal((await rejection(producer.sendOneway(bad))).code, 'INVALID_ARGUMENT', JSON.stringify(bad))
    }
    assert.equal(thrown(() => producer.sendCallback(message(), 'not a function')).code, 'INVALID_ARGUMENT')
  } finally {
    await producer.shutdown()
  }
})

test('every error code of the typings is produced above', () => {
  const dts = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8')
  const union = dts.match(/export type ErrorCode =([^\n]*)/)[1]
  const codes = [...union.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1])
  assert.deepEqual(codes.sort(), Object.keys(failures).sort())
})
