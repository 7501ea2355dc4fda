import t from 'tap'
import { persistenceOptions } from '../broker/durability.js'
import { loadConfig } from '../common/config.js'
import type { TelemetryError } from '../common/errors.js'

t.test('memory persistence is the default and needs no Redis', async (t) => {
  const o = persistenceOptions(loadConfig({}))
  t.equal(o.persistence, 'memory')
  t.equal(o.emitter, 'memory')
  t.equal(o.maxQueuedPerClient, 100_000)
})

t.test('redis persistence falls back to REDIS_URL', async (t) => {
  const c = loadConfig({ BROKER_PERSISTENCE: 'redis', REDIS_URL: 'redis://h:1' })
  t.equal(persistenceOptions(c).redisUrl, 'redis://h:1')

  const own = loadConfig({
    BROKER_PERSISTENCE: 'redis',
    REDIS_URL: 'redis://h:1',
    BROKER_REDIS_URL: 'redis://b:2',
  })
  t.equal(persistenceOptions(own).redisUrl, 'redis://b:2')
})

t.test('contradictory or incomplete settings are refused with a reason', async (t) => {
  const noUrl = loadConfig({ BROKER_PERSISTENCE: 'redis' })
  const err = t.throws(() => persistenceOptions(noUrl)) as TelemetryError
  t.equal(err.code, 'CONFIG_INVALID')
  t.match(err.message, /needs BROKER_REDIS_URL or REDIS_URL/)

  const split = loadConfig({ BROKER_EMITTER: 'redis', REDIS_URL: 'redis://h:1' })
  const err2 = t.throws(() => persistenceOptions(split)) as TelemetryError
  t.equal(err2.code, 'CONFIG_INVALID')
  t.match(err2.message, /BROKER_EMITTER=redis needs BROKER_PERSISTENCE=redis/)

  t.throws(() => loadConfig({ BROKER_PERSISTENCE: 'disk' }), /BROKER_PERSISTENCE must be one of/)
  t.throws(() => loadConfig({ BROKER_OFFLINE_QUEUE_MAX: '0' }), /BROKER_OFFLINE_QUEUE_MAX/)
})
