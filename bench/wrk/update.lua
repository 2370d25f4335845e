-- wrk script: a durable partial update, POST /customers/{id} with a form
-- body of two fields, for ids picked at random from a file.
-- Usage: wrk ... -s update.lua URL -- IDS_FILE "Basic <base64 of key:>"
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
  local body = "mobile_number=9" .. math.random(100000000, 999999999) ..
    "&first_name=Wrk" .. math.random(0, 999)
  return wrk.format("POST", "/customers/" .. ids[math.random(#ids)], {
    ["Authorization"] = auth,
    ["x-merchantid"] = "load",
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end
