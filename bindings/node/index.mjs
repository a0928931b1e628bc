// ESM entry point. The native binding loads through the CommonJS loader `index.js` (generated
// by napi-rs); this file re-exports it by name so that `import { Producer } from 'rmqproducer'`
// works without relying on Node's detection of CommonJS exports.
import binding from './index.js'

export const { Producer, TransactionProducer, ErrorCode, SendStatus, LocalTransactionState, setLogger } =
  binding
export default binding
