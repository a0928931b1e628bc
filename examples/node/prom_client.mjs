// Serves a producer's statistics to Prometheus with prom-client, while it sends.
//
//   npm install rmqproducer prom-client
//   NAMESRV_ADDR=127.0.0.1:9876 node prom_client.mjs [--topic T] [--port 9464] [--count N]
//
// At each scrape of http://127.0.0.1:9464/metrics, the collectors read `producer.stats()`:
// rocketmq_producer_sends_total by form and outcome, the other counters and gauges. The send
// latency histogram, rocketmq_send_cost_time_ms by broker (the 5.x clients' buckets), is fed by
// a send hook, which sees every attempt. The producer sends one message every 100 ms, --count of
// them (0: until interrupted); --port 0 takes a free port (the line "serving ..." names it).
import http from 'node:http'
import { parseArgs } from 'node:util'

import client from 'prom-client'
import { Producer } from 'rmqproducer'

const COUNTERS = {
  attempts: 'Requests sent to brokers, retries included',
  retries: "Attempts after a send's first",
  bytes_sent: 'Message body bytes of every attempt',
  backpressure_waits: 'Async calls that waited for room',
  backpressure_refusals: 'Async calls refused with TOO_MANY_REQUESTS',
  route_refreshes: 'Route lookups asked of the name servers',
  route_refresh_failures: 'Route lookups that failed',
  connections_opened: 'Connections opened',
  connections_lost: 'Connections lost without the client closing them',
}
const GAUGES = {
  in_flight: (s) => s.in_flight,
  in_flight_bytes: (s) => s.in_flight_bytes,
  isolated_brokers: (s) => s.isolated_brokers.length,
}

/** Registers collectors for `producer` (of `group`) in `registry`. */
export function registerProducerMetrics(producer, group, registry = client.register) {
  const registers = [registry]
  new client.Counter({
    name: 'rocketmq_producer_sends_total',
    help: 'Sends that ended, by form and outcome',
    labelNames: ['group', 'form', 'outcome'],
    registers,
    collect() {
      this.reset()
      for (const [form, outcomes] of Object.entries(producer.stats().sends)) {
        for (const [outcome, count] of Object.entries(outcomes)) this.inc({ group, form, outcome }, count)
      }
    },
  })
  for (const [field, help] of Object.entries(COUNTERS)) {
    new client.Counter({
      name: `rocketmq_producer_${field}_total`,
      help,
      labelNames: ['group'],
      registers,
      collect() {
        this.reset()
        this.inc({ group }, producer.stats()[field])
      },
    })
  }
  for (const [field, read] of Object.entries(GAUGES)) {
    new client.Gauge({
      name: `rocketmq_producer_${field}`,
      help: `rmqproducer stats().${field}`,
      labelNames: ['group'],
      registers,
      collect() {
        this.set({ group }, read(producer.stats()))
      },
    })
  }
  const latency = new client.Histogram({
    name: 'rocketmq_send_cost_time_ms',
    help: 'How long each send attempt took, by broker',
    labelNames: ['group', 'broker'],
    buckets: [1, 5, 10, 20, 50, 200, 500],
    registers,
  })
  producer.addSendHook({
    after(ctx, outcome) {
      latency.observe({ group, broker: ctx.brokerName }, outcome.latencyMs)
    },
  })
}

async function main() {
  const { values } = parseArgs({
    options: {
      topic: { type: 'string', default: 'TopicTest' },
      port: { type: 'string', default: '9464' },
      count: { type: 'string', default: '0' },
    },
  })
  const group = 'prom_client_example_group'
  const producer = new Producer({ group })
  registerProducerMetrics(producer, group)
  await producer.start()
  const server = http.createServer(async (_, res) => {
    res.setHeader('Content-Type', client.register.contentType)
    res.end(await client.register.metrics())
  })
  server.listen(Number(values.port), '127.0.0.1', () => {
    console.log(`serving http://127.0.0.1:${server.address().port}/metrics`)
  })
  let stop = false
  process.on('SIGINT', () => (stop = true))
  const count = Number(values.count)
  for (let i = 0; !stop && (count === 0 || i < count); i++) {
    await producer.send({ topic: values.topic, body: `Hello Prometheus ${i}` }).catch((err) => {
      console.error(`send ${i} failed (${err.code}): ${err.message}`)
    })
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  console.log('sent')
  // Scrapes may still come: serve until interrupted.
  while (!stop) await new Promise((resolve) => setTimeout(resolve, 100))
  server.close()
  await producer.shutdown()
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
