/**
 * Server-side scripts of the last-value store (last-values.ts). Each runs
 * atomically, so a reader never sees half of an update and a rebuild never
 * overwrites a newer value written by ingest in between.
 */

/**
 * KEYS: latest hash, fleet zset. ARGV: device, then metric, tsUs, "kind|json"
 * triples. A value replaces the held one only when strictly newer.
 */
export const NEWEST_WINS = `
local newest = -1
for i = 2, #ARGV, 3 do
  local ts = tonumber(ARGV[i + 1])
  local old = redis.call('HGET', KEYS[1], ARGV[i])
  local oldTs = old and tonumber(string.match(old, '^(%-?%d+)'))
  if not oldTs or ts > oldTs then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. '|' .. ARGV[i + 2])
  end
  if ts > newest then newest = ts end
end
local ms = math.floor(newest / 1000)
local seen = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not seen or ms > tonumber(seen) then
  redis.call('ZADD', KEYS[2], ms, ARGV[1])
end
return 1
`

/** KEYS: latest hash, marker. -1 when the marker is gone, else HGETALL. */
export const READ_LATEST = `
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
return redis.call('HGETALL', KEYS[1])
`

/** KEYS: latest hash, marker. ARGV: metric. -1 when the marker is gone. */
export const READ_METRIC = `
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
return redis.call('HGET', KEYS[1], ARGV[1])
`

/**
 * KEYS: fleet zset, marker. ARGV: min ms, max ms, offset, limit.
 * -1 when the marker is gone, else [total, id, ms, id, ms, …] newest first.
 */
export const FLEET_PAGE = `
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local total = redis.call('ZCOUNT', KEYS[1], ARGV[1], ARGV[2])
local page = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[1],
  'WITHSCORES', 'LIMIT', ARGV[3], ARGV[4])
table.insert(page, 1, total)
return page
`

/**
 * KEYS: rebuild announcement, marker. ARGV: run id. Sets the marker only
 * when this run's announcement survived: 0 when it is gone (Redis was
 * flushed during the rebuild, which must start over), 2 when a later run
 * (another bridge) announced itself and will set the marker, 1 when set.
 */
export const FINISH_REBUILD = `
local held = redis.call('GET', KEYS[1])
if not held then return 0 end
if held ~= ARGV[1] then return 2 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1
`
