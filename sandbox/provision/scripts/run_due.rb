# sandbox-script: run_due
# frozen_string_literal: true
#
# Runs now what the clock would run later, so that tests need not wait: publishes the scheduled statuses
# due within `within` seconds (PublishScheduledStatusWorker, as Scheduler::ScheduledStatusesScheduler does
# when they fall due) and ends the polls that close within `within` seconds (their expiry moved to now,
# then PollExpirationNotifyWorker, whose scheduled run is removed so that voters are notified once).
# Run as `bin/rails runner <this text>` with {"within": SECONDS} on stdin (sandbox/data/due.py); prints one
# line `SANDBOX-JSON {"published": [ids], "polls_ended": [ids]}`.

require 'json'

spec = JSON.parse($stdin.read)
horizon = Time.now.utc + Integer(spec.fetch('within'))

published = ScheduledStatus.where(scheduled_at: ..horizon).order(:scheduled_at).pluck(:id).map do |id|
  PublishScheduledStatusWorker.new.perform(id)
  id.to_s
end

polls_ended = Poll.where(expires_at: Time.now.utc..horizon).order(:expires_at).map do |poll|
  poll.update_column(:expires_at, Time.now.utc - 1)
  PollExpirationNotifyWorker.remove_from_scheduled(poll.id)
  PollExpirationNotifyWorker.new.perform(poll.id)
  poll.id.to_s
end

puts "SANDBOX-JSON #{JSON.generate(published: published, polls_ended: polls_ended)}"
