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

/** mqemitter 7's delivery of one message to its matching handlers (fastparallel). */
type Parallel = (that: unknown, handlers: unknown[], message: unknown, done: () => void) => void

/** Nested deliveries allowed before the next one waits for a fresh stack. */
const MAX_DEPTH = 50

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
 * If a later mqemitter keeps its lines differently, they stay as they are,
 * with a warning.
 */
export function memoryEmitter(log: Logger): mqemitter.MQEmitter {
  const mq = mqemitter({ concurrency: CONCURRENCY, matchEmptyLevels: true })
  const lines = mq as unknown as Lines

  if (Array.isArray(lines._messageQueue) && Array.isArray(lines._messageCallbacks)) {
    lines._messageQueue = new Denque()
    lines._messageCallbacks = new Denque()
  } else {
    log.warn('mqemitter internals changed: its waiting line stays an array')
  }
  return withoutRecursion(mq, log)
}

/**
 * Stops mqemitter from recursing once per waiting message.
 *
 * A message whose handlers finish at once (nobody subscribed, or a handler
 * that calls back synchronously) is finished inside the call that started
 * it, and finishing takes the next waiting message in the same stack. A
 * line of 45,000 such messages, left when the bridge paused and its
 * subscription went away, overflowed the stack and killed the broker. Past
 * MAX_DEPTH nested deliveries, deliveries wait in a line of their own that
 * a fresh stack (setImmediate) works through; while it is not empty every
 * delivery joins it, so they still start in the order they were emitted.
 * Used for mqemitter-redis too, which delivers through the same code.
 */
export function withoutRecursion<T extends object>(mq: T, log: Logger): T {
  const target = mq as unknown as { _parallel?: Parallel }
  const parallel = target._parallel
  if (typeof parallel !== 'function') {
    log.warn('mqemitter internals changed: deliveries may recurse')
    return mq
  }

  let depth = 0
  let scheduled = false
  const waiting = new Denque<Parameters<Parallel>>()

  const run = (args: Parameters<Parallel>) => {
    depth++
    try {
      parallel(...args)
    } finally {
      depth--
    }
  }
  const drain = () => {
    scheduled = false
    // A slice per turn, so sockets and timers are served in between.
    for (let n = 0; n < 1_000; n++) {
      const next = waiting.shift()
      if (!next) return
      run(next)
    }
    schedule()
  }
  const schedule = () => {
    if (scheduled || waiting.length === 0) return
    scheduled = true
    setImmediate(drain)
  }

  target._parallel = (...args) => {
    if (depth < MAX_DEPTH && waiting.length === 0) return run(args)
    waiting.push(args)
    schedule()
  }
  return mq
}
