import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import mqtt from 'mqtt'
import t from 'tap'
import { testBroker } from './helpers/broker.js'

const run = promisify(execFile)

t.test('devices add, list, rotate, disable from the command line', async (t) => {
  const b = await testBroker(t)
  const env = {
    ...process.env,
    DATABASE_URL: b.config.DATABASE_URL,
    PG_SCHEMA: b.config.PG_SCHEMA,
    LOG_LEVEL: 'debug',
  }
  const cli = async (...args: string[]) => {
    try {
      const r = await run(
        process.execPath,
        ['--import', 'tsx', 'cli/main.ts', 'devices', ...args],
        {
          env,
        },
      )
      return { code: 0, ...r }
    } catch (err) {
      const e = err as { code: number; stdout: string; stderr: string }
      return { code: e.code, stdout: e.stdout, stderr: e.stderr }
    }
  }
  const secretOf = (stdout: string) => /^secret: (\S+)$/m.exec(stdout)?.[1] as string
  const login = (password: string) =>
    mqtt.connectAsync(b.url, {
      clientId: 'cli-1',
      username: 'cli-1',
      password,
      reconnectPeriod: 0,
    })

  // Independent invocations run side by side: each is a process of its own.
  const [added, addedBad, addedService] = await Promise.all([
    cli('add', 'cli-1'),
    cli('add', 'a/#'),
    cli('add', 'svc-1', '--service'),
  ])
  const secret = secretOf(added.stdout)
  if (!secret) t.comment(`exit ${added.code}: ${added.stderr}`)
  t.match(secret, /^[A-Za-z0-9_-]{43}$/, 'add prints a 256-bit secret')
  t.notOk(added.stderr.includes(secret), 'the secret is not in the log')
  t.equal(addedBad.code, 1, 'an id that cannot be a device id is refused')
  t.equal(addedService.code, 0)
  await (await login(secret)).endAsync()

  const [again, listed] = await Promise.all([cli('add', 'cli-1'), cli('list')])
  t.equal(again.code, 1, 'adding it twice fails')

  const list = listed.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  t.same(
    list.map((a) => [a.id, a.role, a.enabled]),
    [
      ['cli-1', 'device', true],
      ['svc-1', 'service', true],
    ],
  )
  t.notOk('secretHash' in list[0], 'list shows no hash')

  const rotated = secretOf((await cli('rotate', 'cli-1')).stdout)
  t.not(rotated, secret)
  await t.rejects(login(secret), 'the old secret no longer works')
  await (await login(rotated)).endAsync()

  const [disabled, missing] = await Promise.all([cli('disable', 'cli-1'), cli('disable', 'nobody')])
  t.match(disabled.stdout, /disabled cli-1/)
  t.equal(missing.code, 1)
  await t.rejects(login(rotated), 'a disabled device is refused')
})
