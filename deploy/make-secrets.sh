#!/bin/sh
# Create the Docker secrets of docker-compose.yml once: a random database password, the matching
# DATABASE_URL and a random LANDGIS_SECRET_KEY, as files in deploy/secrets/ (git-ignored).
# Existing files are kept (re-running never changes a password the database already uses).
set -eu
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
rand() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
umask 022  # the files are bind-mounted into the containers, whose users (postgres, landgis) must read them
if [ ! -s "$dir/db_password" ]; then
    rand > "$dir/db_password"
    rm -f "$dir/database_url"
fi
if [ ! -s "$dir/database_url" ]; then
    printf 'postgresql://landgis:%s@db:5432/landgis\n' "$(cat "$dir/db_password")" > "$dir/database_url"
fi
if [ ! -s "$dir/secret_key" ]; then
    rand > "$dir/secret_key"
fi
echo "secrets in $dir: $(ls "$dir" | tr '\n' ' ')"
