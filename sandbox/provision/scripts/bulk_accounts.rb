# sandbox-script: bulk_accounts
# frozen_string_literal: true
#
# Creates (or reuses) many local accounts, each with an OAuth token, in ONE Rails boot.
# Run as `bin/rails runner <this text>` with a JSON spec on stdin (sandbox/provision/bulk.py):
#   {"app": {"name", "scopes", "redirect_uri"}, "password", "email_domain",
#    "accounts": [{"username", "email", "role"}]}
# Prints one line `SANDBOX-JSON {"app": {...}, "accounts": [...]}`.
#
# Each new account follows `tootctl accounts create USER --email E --confirmed --approve [--role R]`
# step by step (lib/mastodon/cli/accounts.rb `create`): Account.new(username:), User.new(email:,
# password:, agreement: true, role_id:, bypass_registration_checks: true), save, then
# mark_email_as_confirmed! and approve! (app/models/user.rb). `approved: true` in User.new would not do:
# the before_create hook `set_approved` overwrites it from the registrations mode.

require 'json'

spec = JSON.parse($stdin.read)

# Doorkeeper::Application (config/initializers/doorkeeper.rb): scopes must be configured ones.
app_spec = spec.fetch('app')
app = Doorkeeper::Application.find_by(name: app_spec.fetch('name'), scopes: app_spec.fetch('scopes'))
app ||= Doorkeeper::Application.create!(
  name: app_spec.fetch('name'),
  redirect_uri: app_spec.fetch('redirect_uri'),
  scopes: app_spec.fetch('scopes')
)

# The bypass attribute was `bypass_invite_request_check` before 4.4 (user.rb; fix #34663).
# respond_to? on an instance: attribute methods are defined lazily.
bypass = User.new.respond_to?(:bypass_registration_checks=) ? :bypass_registration_checks : :bypass_invite_request_check

password = spec.fetch('password')
shared_digest = nil # one bcrypt for the whole pool: every pool account shares the password

results = spec.fetch('accounts').map do |item|
  username = item.fetch('username')
  account = Account.find_local(username)
  created = false

  if account.nil?
    role_id = nil
    if item['role']
      role = UserRole.find_by(name: item['role'])
      raise "Cannot find user role with that name: #{item['role']}" if role.nil?

      role_id = role.id
    end

    account = Account.new(username: username)
    user = User.new(email: item.fetch('email'), agreement: true, role_id: role_id,
                    confirmed_at: Time.now.utc, bypass => true)
    if shared_digest
      # Devise's `password=` stores password_digest(password); reuse the first account's digest
      # (same password) instead of paying for bcrypt again. Validations still see the password.
      digest = shared_digest
      user.define_singleton_method(:password_digest) { |_pw| digest }
    end
    user.password = password
    account.suspended_at = nil
    user.account = account

    unless user.save
      errors = user.errors.map { |e| "#{e.attribute} #{e.type}" }.join(', ')
      raise "#{username}: #{errors}"
    end

    # As tootctl does with --confirmed, then --approve.
    user.confirmed_at = nil
    user.mark_email_as_confirmed!
    user.approve!
    shared_digest ||= user.encrypted_password
    created = true
  end

  user = account.user
  raise "#{username} has no local user" if user.nil?

  # Reuses a non-revoked token with exactly these scopes (Doorkeeper's reuse_access_token).
  token = Doorkeeper::AccessToken.find_or_create_for(
    application: app,
    resource_owner: user,
    scopes: Doorkeeper::OAuth::Scopes.from_string(app.scopes.to_s),
    expires_in: nil,
    use_refresh_token: false
  )

  {
    username: account.username,
    email: user.email,
    id: account.id.to_s,
    created: created,
    token: token.token,
    scopes: token.scopes.to_s,
  }
end

out = {
  app: {
    id: app.id.to_s,
    name: app.name,
    client_id: app.uid,
    client_secret: app.secret,
    scopes: app.scopes.to_s,
  },
  accounts: results,
}
$stdout.puts("SANDBOX-JSON #{JSON.generate(out)}")
$stdout.flush
