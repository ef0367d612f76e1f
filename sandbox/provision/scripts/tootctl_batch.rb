# sandbox-script: tootctl_batch
# frozen_string_literal: true
#
# Runs several tootctl commands in ONE Rails boot (each `tootctl` call boots Rails: about 18 s on 2 cores).
# Each command is tootctl's own code, run as bin/tootctl runs it: Mastodon::CLI::Main.start(argv, debug: true)
# in Chewy's :mastodon strategy, a Thor::Error printed to stderr with exit status 1. Its stdout and stderr
# are captured apart and its exit status taken from SystemExit, so each answer reads as a separate call's.
# Run as `bin/rails runner <this text>` with a JSON list of argv lists on stdin (sandbox/provision/tootctl.py
# run_batch);
# prints one line `SANDBOX-JSON [{"status", "stdout", "stderr"}, ...]`.

require 'json'
require 'stringio'
require Rails.root.join('lib/mastodon/cli/main').to_s

commands = JSON.parse($stdin.read)
real_out = $stdout
real_err = $stderr

results = commands.map do |argv|
  out = StringIO.new
  err = StringIO.new
  status = 0
  begin
    $stdout = out
    $stderr = err
    Chewy.strategy(:mastodon) { Mastodon::CLI::Main.start(argv, debug: true) }
  rescue Thor::Error => e
    Thor::Shell::Color.new.say_error(e.message, :red)
    status = 1
  rescue SystemExit => e
    status = e.status
  rescue StandardError => e
    # Whatever else one command raises is that command's failure, not the batch's: the answers of the
    # others (new passwords among them) must still be printed.
    err.puts("#{e.class}: #{e.message}")
    status = 1
  ensure
    $stdout = real_out
    $stderr = real_err
  end
  { 'status' => status, 'stdout' => out.string, 'stderr' => err.string }
end

puts "SANDBOX-JSON #{JSON.generate(results)}"
