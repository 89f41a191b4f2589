-- wrk script: GET of a random member's entitlements (members: whitespace-separated ids in the file
-- named by MEMBERS_FILE; bearer key from KEY; program code from PROGRAM). With PACE_MS > 0 each
-- connection waits between requests, so the load is offered at a set rate instead of as fast as
-- answers come (wrk measures latency from the send, so the wait is not counted): PACE_MS exactly
-- with ARRIVALS=lockstep, or a random wait averaging PACE_MS (exponential, so that the connections'
-- requests arrive independently, as different customers' checkouts do) with ARRIVALS=independent.
local report = dofile(os.getenv("BENCH_DIR") .. "/report.lua")

local members = {}
for line in io.lines(os.getenv("MEMBERS_FILE")) do
  for id in line:gmatch("%S+") do members[#members + 1] = id end
end
local prefix = "/v1/programs/" .. os.getenv("PROGRAM") .. "/members/"
local headers = {["Authorization"] = "Bearer " .. os.getenv("KEY")}
local pace = tonumber(os.getenv("PACE_MS") or "0")
local independent = os.getenv("ARRIVALS") == "independent"

function init(args)
  math.randomseed(os.time() * 1000 + math.random(1, 1000000))
end

function request()
  return wrk.format("GET", prefix .. members[math.random(1, #members)] .. "/entitlements", headers)
end

if pace > 0 then
  function delay()
    if independent then
      -- wrk's delay is whole milliseconds.
      return math.floor(-math.log(1 - math.random()) * pace + 0.5)
    end
    return pace
  end
end

done = report.done
