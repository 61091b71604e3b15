#!/bin/sh
# Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d):
# the roles, databases and grants of deploy/postgres-roles.sql, each login's password read
# from its compose secret /run/secrets/<login>.password. The schemas come after, from the
# `migrate` job (`flowers db migrate`, as each database's owner). The variables are for
# tests/deploy/test_deploy_files.py, which runs this script against its own server.
set -eu
psql --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
     -v prefix="${FLOWERS_DATABASE_PREFIX:-flowers_}" \
     -v passwords="${FLOWERS_PASSWORDS_DIR:-/run/secrets}" \
     -f "${FLOWERS_ROLES_SQL:-/flowers/postgres-roles.sql}"
