// The constructor's options, the typings they are documented in, and the module's two entry
// points (CommonJS and ESM). Needs no cluster.

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { test } from 'node:test'

import * as esm from '../index.mjs'

const require = createRequire(import.meta.url)
const cjs = require('../index.js')
const { Producer } = cjs

const dts = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8')

/** The keys of an interface of index.d.ts. */
function interfaceKeys(name) {
  const body = dts.match(new RegExp(`export interface ${name} \\{([\\s\\S]*?)\\n\\}`))[1]
  return [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1])
}

function thrown(fn) {
  try {
    fn()
  } catch (err) {
    return err
  }
  assert.fail('expected an exception')
}

test('ProducerOptions in the typings lists exactly the options the producer knows', () => {
  const err = thrown(() => new Producer({ group: 'g', noSuchOption: 1 }))
  assert.equal(err.code, 'INVALID_ARGUMENT')
  assert.match(err.message, /noSuchOption/)
  const known = err.message.match(/\(known: (.*)\)/)[1].split(', ')
  assert.deepEqual(interfaceKeys('ProducerOptions').sort(), known.sort())
})

test('every option is accepted with a value of its documented type', () => {
  const sample = {
    group: 'node_options',
    namesrv: '127.0.0.1:9876;127.0.0.2:9876',
    instanceName: 'node-test',
    createTopicKey: 'TBW102',
    latencyFaultTolerance: false,
    retryAnotherBrokerWhenNotStoreOk: true,
    serializeType: 'rocketmq',
    compressLevel: 9,
    retryTimes: 3,
    retryTimesAsync: 0,
    compressType: 'zstd',
    maxAsyncInFlight: 64,
    maxAsyncInFlightBytes: 1 << 20,
    backpressure: 'fail',
    autoBatch: true,
    enableMsgTrace: true,
    customizedTraceTopic: 'NodeTraceTopic',
    enableMetrics: true,
    statisticsIntervalMs: 0,
    namespace: 'node_ns',
    vipChannelEnabled: true,
    accessKey: 'node-access-key',
    secretKey: 'node-secret-key',
    securityToken: 'node-security-token',
    tls: true,
    tlsVerify: false,
    tlsCaFile: '/etc/ssl/certs/ca-certificates.crt',
    tlsServerName: 'broker.example',
  }
  const options = Object.fromEntries(interfaceKeys('ProducerOptions').map((key) => [key, sample[key] ?? 1000]))
  assert.ok(new Producer(options) instanceof Producer)
  // Strings parse as well (values are handed to the core as text); null and undefined mean unset.
  assert.ok(new Producer({ group: 'g', sendTimeoutMs: '2500', retryTimes: null, compressLevel: undefined }))
})

test('bad options throw INVALID_ARGUMENT naming the option', () => {
  for (const [options, pattern] of [
    [undefined, /must be an object/],
    ['group', /must be an object/],
    [{}, /need a 'group'/],
    [{ group: 'g', sendTimeoutMs: 'soon' }, /sendTimeoutMs/],
    [{ group: 'g', compressLevel: 10 }, /compressLevel/],
    [{ group: 'g', latencyFaultTolerance: 'maybe' }, /latencyFaultTolerance/],
    [{ group: 'g', compressType: 'gzip' }, /compressType/],
    [{ group: 'g', backpressure: 'drop' }, /backpressure/],
    [{ group: 'g', sendTimeoutMs: { ms: 5 } }, /sendTimeoutMs' must be a string, a number or a boolean/],
  ]) {
    const err = thrown(() => new Producer(options))
    assert.ok(err instanceof Error)
    assert.equal(err.code, 'INVALID_ARGUMENT', err.message)
    assert.match(err.message, pattern)
  }
})

test('ESM and CommonJS expose the same module', () => {
  assert.equal(esm.Producer, cjs.Producer)
  assert.equal(esm.default, cjs)
  const named = Object.keys(esm).filter((k) => k !== 'default').sort()
  const exported = Object.keys(cjs).filter((k) => !k.startsWith('__')).sort()
  assert.deepEqual(named, exported)
})
