// The quickstart in TypeScript (an ES module): the same 1000 messages, sent concurrently, with
// the package's own types. Type-check with `tsc -p .`; run the compiled output with Node.
import { Producer, type Message, type RmqError, type SendResult } from 'rmqproducer'

const producer = new Producer({ group: 'please_rename_unique_group_name', sendTimeoutMs: 5000 })
await producer.start()
try {
  const messages: Message[] = Array.from({ length: 1000 }, (_, i) => ({
    topic: 'TopicTest',
    tags: 'TagA',
    keys: [`key-${i}`],
    body: Buffer.from(`Hello RocketMQ ${i}`),
  }))
  const results: SendResult[] = await Promise.all(messages.map((message) => producer.send(message)))
  for (const { status, msgId, queue, queueOffset } of results) {
    console.log(`${status} ${msgId} ${queue.brokerName}/${queue.queueId}@${queueOffset}`)
  }
} catch (e) {
  const err = e as RmqError
  const detail = err.code === 'BROKER' ? ` (broker code ${err.responseCode}: ${err.remark})` : ''
  console.error(`send failed, ${err.code}${detail}: ${err.message}`)
  process.exitCode = 1
} finally {
  await producer.shutdown()
}
