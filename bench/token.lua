-- The same token on every request: in the Authorization header, or, with
-- a second argument "query", in the access_token query parameter.
local path, headers = "/", {}
function init(args)
	local f = assert(io.open(args[1]))
	local token = f:read("*l")
	f:close()
	if args[2] == "query" then
		path = "/?access_token=" .. token
	else
		headers["Authorization"] = "Bearer " .. token
	end
end
function request()
	return wrk.format("GET", path, headers)
end
