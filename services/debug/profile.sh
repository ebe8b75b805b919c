# Shown once per interactive login shell: the tools and the connection settings.
if [ -t 1 ]; then
    cat /etc/motd
    printf '  REDIS_URL=%s\n  DATABASE_URL=%s\n\n' "${REDIS_URL:-(not set)}" "${DATABASE_URL:-(not set)}"
fi
