"""bulk_accounts.rb run under plain Ruby with stub models that record what the script asks of them:
the tootctl order of steps, one bcrypt for the whole pool, reuse of accounts and tokens, the JSON contract.
(Fidelity to real Mastodon models is what the Docker tier checks; this catches the script's own mistakes.)"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from mastodon_sandbox.errors import ruby_error

from mastodon_sandbox import server_commands
from mastodon_sandbox.provision import bulk

pytestmark = pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed here (CI installs it)")

STUBS = r'''
require 'json'
require 'stringio'
$log = []
class UserRole
  Role = Struct.new(:id)
  def self.find_by(name:) = name == 'Owner' ? Role.new(3) : nil
end
class Account
  ALL = {}
  attr_accessor :username, :suspended_at, :user, :id
  def self.find_local(u) = ALL[u.downcase]
  def initialize(username:) = @username = username
end
class User
  attr_accessor :email, :agreement, :role_id, :confirmed_at, :account, :encrypted_password, :approved,
                :bypass_registration_checks
  attr_reader :password
  def initialize(**kw)
    kw.each { |k, v| public_send("#{k}=", v) }
    @approved = false # set_approved: registrations closed
  end
  def password=(pw)
    @password = pw
    self.encrypted_password = password_digest(pw)
  end
  def save
    return false if account.username !~ /\A[a-z0-9_]+\z/i
    account.id = 1000 + Account::ALL.size
    account.user = self
    Account::ALL[account.username.downcase] = account
    $log << [:save, account.username, confirmed_at.nil?]
    true
  end
  def errors = []
  def id = account.id
  def mark_email_as_confirmed!
    $log << [:confirm, account.username, confirmed_at.nil?]
    self.confirmed_at = Time.now.utc
  end
  def approve!
    $log << [:approve, account.username]
    self.approved = true
  end
  protected
  def password_digest(pw)
    $log << [:bcrypt]
    "$2a$10$digest-of-#{pw}"
  end
end
module Doorkeeper
  module OAuth
    class Scopes
      def self.from_string(s) = new(s)
      def initialize(s) = @s = s
      def to_s = @s
    end
  end
  class Application
    ALL = []
    attr_accessor :id, :name, :redirect_uri, :scopes, :uid, :secret
    def self.find_by(name:, scopes:) = ALL.find { |a| a.name == name && a.scopes == scopes }
    def self.create!(name:, redirect_uri:, scopes:)
      a = new
      a.id, a.name, a.redirect_uri, a.scopes = ALL.size + 1, name, redirect_uri, scopes
      a.uid, a.secret = "uid-#{a.id}", "secret-#{a.id}"
      ALL << a
      a
    end
  end
  class AccessToken
    ALL = {}
    Tok = Struct.new(:token, :scopes)
    def self.find_or_create_for(application:, resource_owner:, scopes:, expires_in:, use_refresh_token:)
      raise 'tokens never expire' unless expires_in.nil?
      ALL[[application.id, resource_owner.id, scopes.to_s]] ||= Tok.new("tok-#{ALL.size + 1}", scopes)
    end
  end
end
def run_script(spec)
  $stdin = StringIO.new(JSON.generate(spec))
  out = StringIO.new
  $stdout = out
  load ARGV[0]
  $stdout = STDOUT
  out.string
end
'''

DRIVER = r'''
spec = JSON.parse(File.read(ARGV[1]))
first = run_script(spec)
log_first = $log.dup
$log.clear
second = run_script(spec)
STDOUT.puts JSON.generate(first: first, second: second, log_first: log_first, log_second: $log)
'''


def run(tmp_path, spec):
    (tmp_path / "stubs.rb").write_text(STUBS + DRIVER)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    r = subprocess.run(["ruby", str(tmp_path / "stubs.rb"), str(server_commands.SCRIPTS_DIR / "bulk_accounts.rb"),
                        str(tmp_path / "spec.json")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_script_contract_and_steps(tmp_path):
    names = bulk.pool_usernames(3)
    accounts = [{"username": n, "email": f"{n}@example.test"} for n in names] + \
               [{"username": "boss", "email": "boss@example.test", "role": "Owner"}]
    spec = bulk.make_spec(accounts, "ab" * 16, "example.test")
    res = run(tmp_path, spec)
    first = bulk.parse_output(res["first"])
    second = bulk.parse_output(res["second"])
    assert first["app"]["name"] == "sandbox-pool" and first["app"]["scopes"] == spec["app"]["scopes"]
    assert second["app"] == first["app"]  # found by name, not registered again
    assert [a["username"] for a in first["accounts"]] == names + ["boss"]
    assert all(a["created"] for a in first["accounts"]) and not any(a["created"] for a in second["accounts"])
    assert [a["token"] for a in second["accounts"]] == [a["token"] for a in first["accounts"]]  # reused
    assert len({a["token"] for a in first["accounts"]}) == 4 and all(isinstance(a["id"], str) for a in first["accounts"])
    log = [tuple(x) for x in res["log_first"]]
    assert log.count(("bcrypt",)) == 1  # one password hash for the whole pool
    for n in names:  # tootctl's order: save unconfirmed, then confirm, then approve
        i = log.index(("save", n, False))
        assert log[i + 1] == ("confirm", n, True) and log[i + 2] == ("approve", n)
    assert res["log_second"] == []  # existing accounts untouched


def test_script_fails_loudly_on_a_bad_username(tmp_path):
    spec = bulk.make_spec([{"username": "pool-01", "email": "pool-01@example.test"}], "ab" * 16, "example.test")
    (tmp_path / "stubs.rb").write_text(STUBS + "run_script(JSON.parse(File.read(ARGV[1])))\n")
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    r = subprocess.run(["ruby", str(tmp_path / "stubs.rb"), str(server_commands.SCRIPTS_DIR / "bulk_accounts.rb"),
                        str(tmp_path / "spec.json")], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "pool-01" in ruby_error(r.stderr)
