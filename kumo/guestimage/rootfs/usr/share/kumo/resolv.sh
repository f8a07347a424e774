# Sourced by the DHCP hook (/etc/udhcpc/default.script) and the cloud stage
# (/etc/init.d/cloud). Shell builtins only: every process costs ~0.1 s of
# CPU under TCG. Functions keep their variables (local) from the caller's.
#
# Each source of DNS configuration keeps its share in $RESOLV_DIR, one file
# per interface and family: "eth0" from the DHCPv4 lease, "eth0.ra" from the
# router advertisements (RDNSS and DNSSL, RFC 8106). /etc/resolv.conf is
# made of all of them: one search line with each domain once, then the
# servers in the files' order (IPv4 first on each interface).

RESOLV_DIR=${RESOLV_DIR:-/run/resolv}
RESOLV_CONF=${RESOLV_CONF:-/etc/resolv.conf}
IF_INET6=${IF_INET6:-/proc/net/if_inet6}

merge_resolv() {
    local search= servers= file key value name
    for file in "$RESOLV_DIR"/*; do
        [ -e "$file" ] || continue
        while read -r key value; do
            case $key in
            nameserver) servers="$servers
nameserver $value" ;;
            search | domain)
                for name in $value; do
                    case " $search " in
                    *" $name "*) ;;
                    *) search="$search $name" ;;
                    esac
                done
                ;;
            esac
        done < "$file"
    done
    {
        [ -z "$search" ] || echo "search$search"
        [ -z "$servers" ] || echo "${servers#?}"
    } > "$RESOLV_CONF"
}

# ra_resolv NIC < what `rdisc6 -1 -n NIC` printed: the advertisement's DNS
# servers and search list as NIC's IPv6 share; a link-local server gets NIC
# as its zone (glibc and busybox need it to know the link).
ra_resolv() {
    local nic=$1 servers= domains= line server
    while IFS= read -r line; do
        case $line in
        " Recursive DNS server"*:*)
            server=${line#*: }
            case $server in
            [Ff][Ee]80:*) server="$server%$nic" ;;
            esac
            servers="$servers $server"
            ;;
        " DNS search list"*:*) domains="$domains ${line#*: }" ;;
        esac
    done
    [ -d "$RESOLV_DIR" ] || mkdir -p "$RESOLV_DIR"
    {
        set -- $domains
        [ $# -gt 0 ] && echo "search $*"
        for server in $servers; do echo "nameserver $server"; done
    } > "$RESOLV_DIR/$nic.ra"
    merge_resolv
}

# has_slaac NIC: whether NIC has a global IPv6 address (the kernel made one
# by SLAAC: an advertisement came).
has_slaac() {
    local scope name
    while read -r _ _ _ scope _ name; do
        [ "$name" = "$1" ] && [ "$scope" = 00 ] && return 0
    done < "$IF_INET6"
    return 1
}

# link_local_nics: the interfaces whose link-local address is usable (not
# tentative, DAD not failed), in the kernel's order, into $nics6 (a
# variable: a command substitution would fork).
link_local_nics() {
    local scope flags name
    nics6=
    while read -r _ _ _ scope flags name; do
        [ "$scope" = 20 ] && [ $((0x$flags & 0x48)) = 0 ] && nics6="$nics6 $name"
    done < "$IF_INET6"
    nics6=${nics6# }
}

# ra_dns NIC: IPv6 DNS (RFC 8106). Once a NIC has an address by SLAAC, an
# advertisement came; rdisc6 solicits one more and prints its RDNSS and
# DNSSL options, which become the NIC's IPv6 share of resolv.conf. The
# cloud stage runs it in the background (no IPv4 boot waits for it) for a
# NIC without its mark in $RA_MARKS; no answer (a solicitation or its
# answer lost on a busy host) takes the mark away, so it asks again.
RA_MARKS=${RA_MARKS:-/run/kumo}
ra_dns() {
    local heard
    : > "$RA_MARKS/ra.$1"
    heard=$(rdisc6 -1 -n "$1" 2>/dev/null) || { rm -f "$RA_MARKS/ra.$1"; return; }
    echo "$heard" | ra_resolv "$1"
}
