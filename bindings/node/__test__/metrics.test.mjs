// Statistics: `stats()` and the statistics callback count what the test did on the real cluster
// (messages read back by the Java reader); a throwing callback is reported once; the prom-client
// example (examples/node/prom_client.mjs, with prom-client fetched at test time into .cache)
// serves the same numbers.

import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

import { Producer } from '../index.js'
import { namesrv, readTopic, unique } from './support.mjs'

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
const PROM_CLIENT = '15.1.3'

async function eventually(check, what, ms = 10000) {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

test('stats() and the statistics callback count each form of send', async () => {
  const topic = unique('NodeStats')
  const producer = new Producer({ group: unique('node_stats'), namesrv: namesrv(), statisticsIntervalMs: 100 })
  let latest
  producer.setStatisticsCallback((stats) => (latest = stats))
  assert.throws(() => producer.setStatisticsCallback(42), { code: 'INVALID_ARGUMENT' })
  await producer.start()
  try {
    let bytes = 0
    for (let i = 0; i < 10; i++) {
      const body = `sync ${i}`
      bytes += body.length
      await producer.send({ topic, body })
    }
    for (let i = 0; i < 3; i++) {
      const body = `oneway ${i}`
      bytes += body.length
      await producer.sendOneway({ topic, body })
    }
    assert.equal(readTopic(topic, 13).length, 13)
    const stats = producer.stats()
    assert.deepEqual(stats.sends, { sync: { SEND_OK: 10 }, oneway: { WRITTEN: 3 } })
    assert.deepEqual([stats.attempts, stats.retries, stats.bytes_sent], [13, 0, bytes])
    assert.equal(Object.values(stats.send_latency_ms).reduce((n, h) => n + h.count, 0), 13)
    assert.ok(stats.connections_opened >= 2 && stats.route_refreshes >= 1, JSON.stringify(stats))
    await eventually(() => latest !== undefined && JSON.stringify(latest) === JSON.stringify(producer.stats()), 'the callback')

    const warnings = []
    const onWarning = (w) => warnings.push(w)
    process.on('warning', onWarning)
    let calls = 0
    producer.setStatisticsCallback(() => {
      calls++
      throw new Error('statistics callback broke')
    })
    await eventually(() => calls >= 3, 'three calls of the throwing callback')
    await producer.send({ topic, body: 'after the throw' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    process.off('warning', onWarning)
    const ours = warnings.filter((w) => w.name === 'RmqCallbackError')
    assert.equal(ours.length, 1, ours.map((w) => w.message).join('\n'))
    assert.deepEqual(producer.stats().sends.sync, { SEND_OK: 11 })
  } finally {
    await producer.shutdown()
  }
})

test('stats are empty with enableMetrics: false', async () => {
  const producer = new Producer({ group: unique('node_stats_off'), namesrv: namesrv(), enableMetrics: false })
  await producer.start()
  await producer.send({ topic: unique('NodeStatsOff'), body: 'uncounted' })
  const stats = producer.stats()
  await producer.shutdown()
  assert.deepEqual([stats.sends, stats.attempts], [{}, 0])
})

/** A folder where the example resolves `rmqproducer` (this package) and `prom-client`. */
function exampleFolder() {
  const folder = `${repoRoot}.cache/node-prom-client`
  mkdirSync(`${folder}/node_modules`, { recursive: true })
  if (!existsSync(`${folder}/node_modules/prom-client/package.json`)) {
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error',
      '--prefix', folder, `prom-client@${PROM_CLIENT}`], { stdio: 'inherit' })
  }
  if (!existsSync(`${folder}/node_modules/rmqproducer`)) {
    symlinkSync(fileURLToPath(new URL('..', import.meta.url)), `${folder}/node_modules/rmqproducer`)
  }
  copyFileSync(`${repoRoot}examples/node/prom_client.mjs`, `${folder}/prom_client.mjs`)
  return folder
}

test('the prom-client example serves the producer\'s numbers', async () => {
  const folder = exampleFolder()
  const topic = unique('NodeProm')
  const child = spawn(process.execPath, [`${folder}/prom_client.mjs`, '--topic', topic, '--port', '0', '--count', '5'], {
    env: { ...process.env, NAMESRV_ADDR: namesrv() },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    let url
    for await (const line of createInterface({ input: child.stdout })) {
      const served = line.match(/^serving (\S+)/)
      if (served) {
        url = served[1]
        break
      }
    }
    assert.ok(url, 'the example named no URL')
    const sends = 'rocketmq_producer_sends_total{group="prom_client_example_group",form="sync",outcome="SEND_OK"} 5'
    let page = ''
    await eventually(async () => {
      page = await (await fetch(url)).text()
      return page.includes(sends)
    }, `"${sends}" in the scrape`, 60000)
    assert.match(page, /rocketmq_producer_attempts_total\{group="prom_client_example_group"\} 5/)
    assert.match(page, /rocketmq_send_cost_time_ms_count\{group="prom_client_example_group",broker="[^"]+"\} \d/)
    assert.equal(readTopic(topic, 5).length, 5)
  } finally {
    child.kill('SIGINT')
  }
  assert.equal(await exited, 0)
})
