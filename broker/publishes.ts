import type { Aedes } from 'aedes'

type Done = (err?: Error) => void

/** Publishes Aedes has started and not finished, and a way to wait for them. */
export interface PendingPublishes {
  readonly count: number
  /** Resolves when none is pending or after `timeoutMs`; gives how many were left. */
  settled(timeoutMs: number): Promise<number>
}

/**
 * Counts what `broker.publish` has in hand.
 *
 * Aedes writes a device's PUBACK first and only then queues the message for
 * persistent subscribers (lib/handlers/publish.js). A broker that closes its
 * store as soon as the clients are gone drops what is acknowledged but not
 * yet queued: a graceful stop lost the last messages a device sent. Waiting
 * for this count to reach zero before the store closes keeps them.
 */
export function trackPublishes(broker: Aedes): PendingPublishes {
  let count = 0
  let idle: (() => void)[] = []
  // Aedes' own calls pass (packet, client, done); its typed API is (packet, done).
  const loose = broker as unknown as { publish: (p: unknown, c: unknown, d?: Done) => void }
  const publish = loose.publish.bind(broker)

  loose.publish = (packet, client, done) => {
    if (typeof client === 'function') {
      done = client as Done
      client = null
    }
    count++
    publish(packet, client, (err) => {
      if (--count === 0) {
        for (const wake of idle) wake()
        idle = []
      }
      done?.(err)
    })
  }

  return {
    get count() {
      return count
    },
    settled(timeoutMs) {
      if (count === 0) return Promise.resolve(0)
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve(count), timeoutMs)
        idle.push(() => {
          clearTimeout(timer)
          resolve(0)
        })
      })
    },
  }
}
