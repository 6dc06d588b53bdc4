#!/bin/sh
# The broker's start in docker-compose.yml: refuse the example password file in one line,
# then run mosquitto on the shipped config. deploy/mosquitto/passwd.example's user has a
# password anyone can read in the repository; a plant must never run on it.
conf=${MOSQUITTO_CONF:-/mosquitto/config/mosquitto.conf}
example=${MOSQUITTO_PASSWD_EXAMPLE:-/mosquitto/config/passwd.example}
passwd=$(sed -n 's/^password_file[[:space:]]*//p' "$conf")
entry=$(grep -v '^#' "$example" | grep -v '^[[:space:]]*$')
if [ -n "$entry" ] && grep -qxF "$entry" "$passwd"; then
  echo "mosquitto: $passwd holds the example user of deploy/mosquitto/passwd.example: make the password file with mosquitto_passwd (MOSQUITTO_PASSWD_FILE in .env)" >&2
  exit 2
fi
exec "${MOSQUITTO_BIN:-/usr/sbin/mosquitto}" -c "$conf"
