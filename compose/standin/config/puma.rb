# The stand-in's web server reads nothing from this file; it exists because compose runs
# `bundle exec puma -C config/puma.rb` exactly as with the official image. Port 3000, BIND (0.0.0.0).
