#!/bin/sh
# Runs once, on the first start of an empty PostgreSQL volume (docker-entrypoint-initdb.d): one login role
# `kim` (password from DB_PASSWORD) and one database per service, owned by it. `kim migrate` creates the tables.
set -eu
: "${DB_PASSWORD:?DB_PASSWORD must be set}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres --set=app_password="$DB_PASSWORD" <<'SQL'
CREATE ROLE kim LOGIN PASSWORD :'app_password';
CREATE DATABASE kim_intake OWNER kim;
CREATE DATABASE kim_casework OWNER kim;
CREATE DATABASE kim_gateway OWNER kim;
CREATE DATABASE kim_referrals OWNER kim;
CREATE DATABASE kim_analytics OWNER kim;
REVOKE ALL ON DATABASE kim_intake, kim_casework, kim_referrals, kim_analytics, kim_gateway FROM PUBLIC;
GRANT CONNECT ON DATABASE kim_intake, kim_casework, kim_referrals, kim_analytics, kim_gateway TO kim;
SQL
