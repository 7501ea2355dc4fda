import Denque from 'denque'
import mqemitter from 'mqemitter'
import type { Logger } from '../common/logger.js'

/** What Aedes gives its own emitter (aedes.js defaultOptions). */
const CONCURRENCY = 100

/** The two waiting lines inside mqemitter 7 (mqemitter.js `emit` and `released`). */
interface Lines {
  _messageQueue: unknown
  _messageCallbacks: unknown
}

/**
 * Aedes' in-process emitter, with its waiting line in a deque.
 *
 * mqemitter delivers at most `concurrency` messages at once. The rest wait
 * in two arrays, and every finished delivery takes the next message with
 * `shift()`, which copies the whole array. When the bridge reads more
 * slowly than devices publish, that line grows to tens of thousands, and
 * those copies took a third of the broker's CPU: it then fell further
 * behind. mqemitter uses only push, shift and length on the two lines,
 * which is exactly what a deque does in constant time.
 *
 * If a later mqemitter keeps its lines differently, the stock emitter is
 * used as it is, with a warning.
 */
export function memoryEmitter(log: Logger): mqemitter.MQEmitter {
  const mq = mqemitter({ concurrency: CONCURRENCY, matchEmptyLevels: true })
  const lines = mq as unknown as Lines

  if (!Array.isArray(lines._messageQueue) || !Array.isArray(lines._messageCallbacks)) {
    log.warn('mqemitter internals changed: its waiting line stays an array')
    return mq
  }
  lines._messageQueue = new Denque()
  lines._messageCallbacks = new Denque()
  return mq
}
