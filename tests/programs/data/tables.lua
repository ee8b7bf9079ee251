-- Tables that grow (luaH_resize), strings, closures and a sort: a small Lua workload.
local squares = {}
for i = 1, 200 do squares[i] = i * i end
local names = {}
for i = 1, 60 do names["k" .. i] = i end
local words = {}
for w in ("the quick brown fox jumps over the lazy dog"):gmatch("%a+") do
  words[#words + 1] = w
end
table.sort(words)
local function counter()
  local n = 0
  return function() n = n + 1; return n end
end
local c = counter()
for _ = 1, 10 do c() end
local sum = 0
for _, v in ipairs(squares) do sum = sum + v end
local keys = 0
for _ in pairs(names) do keys = keys + 1 end
print(string.format("sum=%d keys=%d words=%s count=%d", sum, keys, table.concat(words, ","), c()))
