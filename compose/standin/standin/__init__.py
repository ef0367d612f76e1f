"""mastodon-sandbox offline stand-in: test equipment that takes the place of Mastodon's web, streaming and
sidekiq containers when the official images cannot be pulled. It is NOT Mastodon."""
