-- wrk script: GET /customers/{id} for ids picked at random from a file.
-- Usage: wrk ... -s get.lua URL -- IDS_FILE "Basic <base64 of key:>"
local ids, auth = {}, nil
local thread_seed = 0

function setup(thread)
  thread_seed = thread_seed + 1
  thread:set("seed", thread_seed)
end

function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  auth = args[2]
  math.randomseed(seed or 1)
end

function request()
  return wrk.format("GET", "/customers/" .. ids[math.random(#ids)],
    { ["Authorization"] = auth, ["x-merchantid"] = "load" })
end
