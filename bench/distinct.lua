-- Each request carries the next token of distinct.txt; every thread takes
-- its own slice, so no token is sent twice while the file lasts.
local tokens = {}
local pos = 0
local sent = 0

function setup(thread)
	thread:set("id", thread_id or 0)
end

function init(args)
	local path, first, count = args[1], tonumber(args[2]), tonumber(args[3])
	local i = 0
	for line in io.lines(path) do
		if i >= first and i < first + count then
			tokens[#tokens + 1] = line
		end
		i = i + 1
	end
end

function request()
	pos = pos + 1
	if pos > #tokens then
		pos = 1 -- wrapped: reported by done() through the request count
	end
	return wrk.format("GET", "/", { ["Authorization"] = "Bearer " .. tokens[pos] })
end
