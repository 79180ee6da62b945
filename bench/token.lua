-- The same token on every request.
local header
function init(args)
	local f = assert(io.open(args[1]))
	header = "Bearer " .. f:read("*l")
	f:close()
end
function request()
	return wrk.format("GET", "/", { ["Authorization"] = header })
end
