# sandbox-script: authorized_fetch
# frozen_string_literal: true
#
# Turns authorized fetch ("secure mode") on or off: the admin setting app/helpers/authorized_fetch_helper.rb
# reads unless AUTHORIZED_FETCH is in the environment (no tootctl command sets it). Setting writes through to
# Rails' cache (app/models/setting.rb, after_commit :rewrite_cache), so running processes see it at once.
# Run as `bin/rails runner <this text>` with {"on": true|false} on stdin (sandbox/lifecycle.py); prints one
# line `SANDBOX-JSON {"authorized_fetch": true|false}`, the setting as it now reads.

require 'json'

spec = JSON.parse($stdin.read)
Setting.authorized_fetch = spec.fetch('on') == true
puts "SANDBOX-JSON #{JSON.generate(authorized_fetch: Setting.authorized_fetch ? true : false)}"
