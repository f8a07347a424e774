# The SSH server for /etc/init.d/cloud (sourced): ssh_start, then ssh_open
# once the public keys are in. The caller sets KEY (the host key), KEYS
# (cirros's authorized_keys), SSH_OPEN (a mark file) and SSH_PID (dropbear's
# pid file).
#
# One ed25519 host key, made on first boot and kept on the state disk
# beside what dropbearkey printed when it made it ($KEY.info: the
# fingerprint for the console). The server starts while DHCP runs (the key
# loaded, the port listening: dropbear listens before it forks into the
# background, and writes its pid file after) and is then held stopped
# (SIGSTOP) until ssh_open: a client that connects before the keys are in
# waits in the listen queue and logs in as soon as they are, where a
# running server would take it through a whole key exchange (~0.2 s of
# CPU under TCG, taken from the metadata fetch) only to refuse its key,
# and the client would try again later. Keys kept from an earlier boot
# (the state disk) open it at once: a slow or absent metadata service then
# keeps out no one who could log in before.

ssh_start() {
    [ -s "$KEYS" ] && : > "$SSH_OPEN"
    (
        [ -s "$KEY" ] || dropbearkey -t ed25519 -f "$KEY" > "$KEY.info" 2>/dev/null
        dropbear -r "$KEY" -p 22 -P "$SSH_PID"
        n=0
        until read -r pid < "$SSH_PID" || [ $n -ge 250 ]; do
            n=$((n + 1))
            usleep 20000
        done 2>/dev/null
        # ssh_open may come first (it writes its mark, then continues the
        # server): stop only if not, and look again once stopped.
        [ -n "$pid" ] && [ ! -e "$SSH_OPEN" ] && kill -STOP "$pid" \
            && [ -e "$SSH_OPEN" ] && kill -CONT "$pid"
    ) &
}

ssh_open() {
    : > "$SSH_OPEN"
    read -r sshd < "$SSH_PID" 2>/dev/null && kill -CONT "$sshd"
}
