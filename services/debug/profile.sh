# shellcheck shell=sh
# Shown once per interactive login shell: the tools and where they connect (passwords
# masked; the variables themselves keep them).
if [ -t 1 ]; then
    cat /etc/motd
    printf '  REDIS_URL=%s\n  DATABASE_URL=%s\n\n' \
        "${REDIS_URL:-(not set)}" "${DATABASE_URL:-(not set)}" |
        sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#'
fi
