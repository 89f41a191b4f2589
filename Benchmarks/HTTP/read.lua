-- wrk script: GET of PATH with the bearer key from KEY, the cheapest authenticated JSON read.
local report = dofile(os.getenv("BENCH_DIR") .. "/report.lua")
wrk.headers["Authorization"] = "Bearer " .. os.getenv("KEY")
wrk.path = os.getenv("READ_PATH")
done = report.done
