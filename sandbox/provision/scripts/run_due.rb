# sandbox-script: run_due
# frozen_string_literal: true
#
# Runs now what the clock would run later, so that tests need not wait: publishes the scheduled statuses
# due within `within` seconds (PublishScheduledStatusWorker, as Scheduler::ScheduledStatusesScheduler does
# when they fall due) and ends the polls that close within `within` seconds (their expiry moved to now,
# then PollExpirationNotifyWorker, whose scheduled run is removed so that voters are notified once).
# Run as `bin/rails runner <this text>` with {"within": SECONDS} on stdin (sandbox/data/due.py); prints one
# line `SANDBOX-JSON {"published": [ids], "polls_ended": [ids]}`. With "scheduled_ids" or "poll_ids" (lists of
# ids) only those are published or ended, whenever they fall due (a test's own, not the whole sandbox's);
# naming either leaves the other kind alone unless it is named too.

require 'json'

spec = JSON.parse($stdin.read)
horizon = Time.now.utc + Integer(spec.fetch('within'))
by_id = spec.key?('scheduled_ids') || spec.key?('poll_ids')

scheduled = if by_id
              ScheduledStatus.where(id: Array(spec['scheduled_ids']).map { |id| Integer(id) })
            else
              ScheduledStatus.where(scheduled_at: ..horizon)
            end
published = scheduled.order(:scheduled_at).pluck(:id).map do |id|
  PublishScheduledStatusWorker.new.perform(id)
  id.to_s
end

polls = if by_id
          Poll.where(id: Array(spec['poll_ids']).map { |id| Integer(id) }, expires_at: Time.now.utc..)
        else
          Poll.where(expires_at: Time.now.utc..horizon)
        end
polls_ended = polls.order(:expires_at).map do |poll|
  poll.update_column(:expires_at, Time.now.utc - 1)
  PollExpirationNotifyWorker.remove_from_scheduled(poll.id)
  PollExpirationNotifyWorker.new.perform(poll.id)
  poll.id.to_s
end

puts "SANDBOX-JSON #{JSON.generate(published: published, polls_ended: polls_ended)}"
