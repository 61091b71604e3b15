#!/bin/sh
# Run once by the postgres image on an empty data volume (/docker-entrypoint-initdb.d):
# the roles, databases and grants of deploy/postgres-roles.sql, each login's password read
# from its compose secret /run/secrets/<login>.password. The schemas come after, from the
# `migrate` job (`flowers db migrate`, as each database's owner).
set -eu
psql --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
     -v prefix=flowers_ -v passwords=/run/secrets -f /flowers/postgres-roles.sql
