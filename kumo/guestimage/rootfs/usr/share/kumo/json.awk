# Flatten a JSON document into one line per scalar: "path<TAB>value".
# Paths join object keys and array indexes with dots (public_keys.mykey,
# keys.0.data); strings are unescaped (\uXXXX above ASCII becomes "?").
# Newlines inside values are written as spaces: the guest only reads
# single-line values (hostname, keys, uuid).

function fail(msg) { printf "json: %s\n", msg > "/dev/stderr"; bad = 1; exit 1 }

function skip() { while (pos <= n && index(" \t\r\n", substr(s, pos, 1)) > 0) pos++ }

function str(   out, c, hex) {
    pos++
    out = ""
    while (pos <= n) {
        c = substr(s, pos, 1)
        if (c == "\"") { pos++; return out }
        if (c == "\\") {
            pos++
            c = substr(s, pos, 1)
            if (c == "n" || c == "r" || c == "t") out = out " "
            else if (c == "b" || c == "f") out = out
            else if (c == "u") {
                hex = substr(s, pos + 1, 4)
                pos += 4
                out = out (hex ~ /^00[2-7][0-9a-fA-F]$/ ? sprintf("%c", hexval(hex)) : "?")
            } else out = out c
            pos++
            continue
        }
        out = out c
        pos++
    }
    fail("unterminated string")
}

function hexval(h,   i, v) {
    v = 0
    for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", tolower(substr(h, i, 1))) - 1
    return v
}

# Each scalar is also kept (flat[path], paths[1..nflat] in document order)
# for a program run after this one in the same awk (meta.awk).
function emit(path, value) {
    print path "\t" value
    if (!(path in flat)) paths[++nflat] = path
    flat[path] = value
}

function join(path, key) { return path == "" ? key : path "." key }

function value(path,   c, key, i, start) {
    skip()
    c = substr(s, pos, 1)
    if (c == "{") {
        pos++; skip()
        if (substr(s, pos, 1) == "}") { pos++; return }
        while (1) {
            skip()
            if (substr(s, pos, 1) != "\"") fail("expected a key")
            key = str()
            skip()
            if (substr(s, pos, 1) != ":") fail("expected ':'")
            pos++
            value(join(path, key))
            skip()
            c = substr(s, pos, 1); pos++
            if (c == "}") return
            if (c != ",") fail("expected ',' or '}'")
        }
    }
    if (c == "[") {
        pos++; skip()
        if (substr(s, pos, 1) == "]") { pos++; return }
        for (i = 0; ; i++) {
            value(join(path, i))
            skip()
            c = substr(s, pos, 1); pos++
            if (c == "]") return
            if (c != ",") fail("expected ',' or ']'")
        }
    }
    if (c == "\"") { emit(path, str()); return }
    start = pos
    while (pos <= n && index(",}] \t\r\n", substr(s, pos, 1)) == 0) pos++
    if (pos == start) fail("unexpected end")
    emit(path, substr(s, start, pos - start))
}

{ s = s $0 "\n" }

END {
    if (bad) exit 1
    n = length(s)
    pos = 1
    value("")
}
