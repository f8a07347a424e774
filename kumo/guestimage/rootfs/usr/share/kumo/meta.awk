# After json.awk, in the same awk (awk -v keys=FILE -v vars=FILE
# -f json.awk -f meta.awk meta_data.json): the instance's public keys, one
# a line, into FILE keys; shell assignments into FILE vars: uuid, name (the
# hostname, else the name, as a host name: [A-Za-z0-9.-], 63 at most) and
# nkeys (how many keys).

END {
    if (bad) exit 1
    nkeys = 0
    printf "" > keys
    for (i = 1; i <= nflat; i++) {
        if (paths[i] ~ /^public_keys\./) {
            print flat[paths[i]] > keys
            nkeys++
        }
    }
    close(keys)
    name = flat["hostname"] != "" ? flat["hostname"] : flat["name"]
    gsub(/[^A-Za-z0-9.-]/, "-", name)
    name = substr(name, 1, 63)
    uuid = flat["uuid"]
    gsub(/[^A-Za-z0-9-]/, "", uuid)
    printf "uuid=%s\nname=%s\nnkeys=%d\n", uuid, name, nkeys > vars
    close(vars)
}
