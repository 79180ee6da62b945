-- The same token on every request, in the access_token query parameter.
local path
function init(args)
	local f = assert(io.open(args[1]))
	path = "/?access_token=" .. f:read("*l")
	f:close()
end
function request()
	return wrk.format("GET", path)
end
