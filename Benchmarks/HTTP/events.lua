-- wrk script: posts purchases, each with its own event id and order id, spread over the members
-- listed (whitespace-separated ids) in the file named by MEMBERS_FILE; bearer key from KEY, program
-- code from PROGRAM. Prints one JSON line of results at the end (see report.lua).
local report = dofile(os.getenv("BENCH_DIR") .. "/report.lua")

local members = {}
for line in io.lines(os.getenv("MEMBERS_FILE")) do
  for id in line:gmatch("%S+") do members[#members + 1] = id end
end
local path = "/v1/programs/" .. os.getenv("PROGRAM") .. "/events"
local headers = {["Authorization"] = "Bearer " .. os.getenv("KEY"), ["Content-Type"] = "application/json"}

local threads = {}
function setup(thread)
  thread:set("thread_number", #threads + 1)
  table.insert(threads, thread)
end

local counter = 0
local run = 0
function init(args)
  thread_number = thread_number or 1
  math.randomseed(os.time() * 1000 + thread_number)
  run = math.random(1, 2000000000)
end

function request()
  counter = counter + 1
  local member = members[math.random(1, #members)]
  local id = string.format("b%d-%d-%d", run, thread_number, counter)
  local body = string.format(
    '{"id":"%s","type":"purchase","member":"%s","amount":%d,"order_id":"%s","occurred_at":"%s","channel":"app"}',
    id, member, math.random(500, 50000), id, os.date("!%Y-%m-%dT%H:%M:%SZ"))
  return wrk.format("POST", path, headers, body)
end

done = report.done
