#!/usr/bin/env bash
# Makes what the live-twin example needs, in examples/live/secrets/ (not committed): a CA, a
# broker certificate for localhost and 127.0.0.1 signed by it, a random password for the user
# `twin` (in `password`, which the fleet file reads) and mosquitto's password file; and
# mosquitto.conf, a TLS listener on 127.0.0.1:8883 that lets no one in without the password.
# Then: mosquitto -c examples/live/secrets/mosquitto.conf
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
s="$here/secrets"
mkdir -p "$s/mosquitto-data"
openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=machine-twin example CA" \
    -keyout "$s/ca.key" -out "$s/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$s/broker.key" -out "$s/broker.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$s/broker.ext"
openssl x509 -req -in "$s/broker.csr" -CA "$s/ca.crt" -CAkey "$s/ca.key" -CAcreateserial \
    -days 365 -extfile "$s/broker.ext" -out "$s/broker.crt" 2>/dev/null
openssl rand -hex 16 | tr -d '\n' > "$s/password"
rm -f "$s/passwd"
mosquitto_passwd -b -c "$s/passwd" twin "$(cat "$s/password")"
chmod 600 "$s"/*.key "$s/password" "$s/passwd"
cat > "$s/mosquitto.conf" <<CONF
# Written by examples/live/setup.sh. Runs as the user who made the secrets (they are theirs
# alone to read).
user $(id -un)
listener 8883 127.0.0.1
cafile $s/ca.crt
certfile $s/broker.crt
keyfile $s/broker.key
allow_anonymous false
password_file $s/passwd
persistence true
persistence_location $s/mosquitto-data/
# Rows queued for a machine's session while twin serve is away (QoS 1).
max_queued_messages 100000
CONF
echo "made $s: CA, broker certificate, password for user twin, mosquitto.conf"
echo "next: mosquitto -c $s/mosquitto.conf"
