-- Subset of Mastodon's db/schema.rb (v4.6.5, version 2026_06_11_150940): same table and column names and types
-- for the tables the stand-in needs. Loaded once by `rails db:prepare` when the schema is missing.

-- Snowflake-like ids as in lib/mastodon/snowflake.rb: milliseconds since the epoch << 16, plus 16 low bits.
CREATE SEQUENCE IF NOT EXISTS standin_snowflake_seq;
CREATE OR REPLACE FUNCTION timestamp_id(table_name text) RETURNS bigint AS $$
  SELECT ((floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) << 16)
         | (nextval('standin_snowflake_seq') % 65536);
$$ LANGUAGE sql VOLATILE;

CREATE TABLE IF NOT EXISTS schema_migrations (version varchar PRIMARY KEY);
CREATE TABLE IF NOT EXISTS ar_internal_metadata (
  key varchar PRIMARY KEY, value varchar, created_at timestamp(6) NOT NULL, updated_at timestamp(6) NOT NULL);

CREATE TABLE IF NOT EXISTS accounts (
  id bigint PRIMARY KEY DEFAULT timestamp_id('accounts'),
  username varchar NOT NULL DEFAULT '',
  domain varchar,
  display_name varchar NOT NULL DEFAULT '',
  note text NOT NULL DEFAULT '',
  uri varchar NOT NULL DEFAULT '',
  url varchar,
  locked boolean NOT NULL DEFAULT false,
  discoverable boolean,
  indexable boolean NOT NULL DEFAULT false,
  hide_collections boolean,
  memorial boolean NOT NULL DEFAULT false,
  actor_type varchar,
  fields jsonb,
  suspended_at timestamp,
  silenced_at timestamp,
  created_at timestamp NOT NULL,
  updated_at timestamp NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS index_accounts_on_username_and_domain_lower
  ON accounts (lower(username), COALESCE(lower(domain), ''));

CREATE TABLE IF NOT EXISTS user_roles (
  id bigserial PRIMARY KEY,
  name varchar NOT NULL DEFAULT '',
  color varchar NOT NULL DEFAULT '',
  position integer NOT NULL DEFAULT 0,
  permissions bigint NOT NULL DEFAULT 0,
  highlighted boolean NOT NULL DEFAULT false,
  require_2fa boolean NOT NULL DEFAULT false,
  collection_limit integer,
  created_at timestamp NOT NULL,
  updated_at timestamp NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
  id bigserial PRIMARY KEY,
  email varchar NOT NULL DEFAULT '',
  created_at timestamp NOT NULL,
  updated_at timestamp NOT NULL,
  encrypted_password varchar NOT NULL DEFAULT '',
  reset_password_token varchar,
  reset_password_sent_at timestamp,
  sign_in_count integer NOT NULL DEFAULT 0,
  current_sign_in_at timestamp,
  last_sign_in_at timestamp,
  confirmation_token varchar,
  confirmed_at timestamp,
  confirmation_sent_at timestamp,
  unconfirmed_email varchar,
  locale varchar,
  last_emailed_at timestamp,
  otp_required_for_login boolean NOT NULL DEFAULT false,
  account_id bigint NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  disabled boolean NOT NULL DEFAULT false,
  approved boolean NOT NULL DEFAULT true,
  sign_up_ip inet,
  role_id bigint REFERENCES user_roles(id) ON DELETE SET NULL,
  settings text,
  age_verified_at timestamp
);
CREATE UNIQUE INDEX IF NOT EXISTS index_users_on_email ON users (email);
CREATE UNIQUE INDEX IF NOT EXISTS index_users_on_account_id ON users (account_id);

CREATE TABLE IF NOT EXISTS session_activations (
  id bigserial PRIMARY KEY,
  session_id varchar NOT NULL,
  created_at timestamp NOT NULL,
  updated_at timestamp NOT NULL,
  user_agent varchar NOT NULL DEFAULT '',
  ip inet,
  access_token_id bigint,
  user_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  web_push_subscription_id bigint
);

CREATE TABLE IF NOT EXISTS oauth_applications (
  id bigserial PRIMARY KEY,
  name varchar NOT NULL,
  uid varchar NOT NULL,
  secret varchar NOT NULL,
  redirect_uri text NOT NULL,
  scopes varchar NOT NULL DEFAULT '',
  created_at timestamp,
  updated_at timestamp,
  superapp boolean NOT NULL DEFAULT false,
  website varchar,
  owner_type varchar,
  owner_id bigint,
  confidential boolean NOT NULL DEFAULT true
);
CREATE UNIQUE INDEX IF NOT EXISTS index_oauth_applications_on_uid ON oauth_applications (uid);

CREATE TABLE IF NOT EXISTS oauth_access_grants (
  id bigserial PRIMARY KEY,
  token varchar NOT NULL,
  expires_in integer NOT NULL,
  redirect_uri text NOT NULL,
  created_at timestamp NOT NULL,
  revoked_at timestamp,
  scopes varchar,
  application_id bigint NOT NULL REFERENCES oauth_applications(id) ON DELETE CASCADE,
  resource_owner_id bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  code_challenge varchar,
  code_challenge_method varchar
);
CREATE UNIQUE INDEX IF NOT EXISTS index_oauth_access_grants_on_token ON oauth_access_grants (token);

CREATE TABLE IF NOT EXISTS oauth_access_tokens (
  id bigserial PRIMARY KEY,
  token varchar NOT NULL,
  refresh_token varchar,
  expires_in integer,
  revoked_at timestamp,
  created_at timestamp NOT NULL,
  scopes varchar,
  application_id bigint REFERENCES oauth_applications(id) ON DELETE CASCADE,
  resource_owner_id bigint REFERENCES users(id) ON DELETE CASCADE,
  last_used_at timestamp,
  last_used_ip inet
);
CREATE UNIQUE INDEX IF NOT EXISTS index_oauth_access_tokens_on_token ON oauth_access_tokens (token);

CREATE TABLE IF NOT EXISTS settings (
  id bigserial PRIMARY KEY,
  var varchar NOT NULL,
  value text,
  created_at timestamp,
  updated_at timestamp
);
CREATE UNIQUE INDEX IF NOT EXISTS index_settings_on_var ON settings (var);
