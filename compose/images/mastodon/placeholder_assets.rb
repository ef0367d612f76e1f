# frozen_string_literal: true

# mastodon-sandbox: placeholder front-end assets for Mastodon built from source.
#
# The official image precompiles the web front end; so does this build for 4.6 (the Dockerfile's assets
# stage). For 4.3, whose front end is Webpacker 5's and was never built against the npm registry reachable
# here, this build skips it. Every HTML page still renders (sign-in, authorization, settings) with its real
# forms, and the API, streaming and Sidekiq are untouched; asset URLs point under /packs/stub/, where the
# Dockerfile puts the source's images and icons (the instance thumbnail loads) and one empty stylesheet for
# every style entry (mails are sent, unstyled); scripts answer 404. For 4.3 this file is the one difference
# from the official image.
module SandboxPlaceholderAssets
  # An empty stylesheet: pages link it, and mails inline it (Premailer reads stylesheets from
  # public/, lib/premailer_bundled_asset_strategy.rb) — a missing one fails every HTML mail.
  STYLESHEET = '/packs/stub/placeholder.css'

  def self.path(name)
    "/packs/stub/#{name}"
  end

  def self.stylesheet?(name, type)
    type == :stylesheet || name.to_s.match?(/\.s?css\z/) || name.to_s.start_with?('themes/')
  end

  # 4.4+: vite_ruby (lib/vite_ruby/sri_extensions.rb looks entries up by name in the manifest).
  module Vite
    def lookup!(name, **options)
      found = lookup(name, **options)
      return found if found

      file = SandboxPlaceholderAssets.stylesheet?(name, options[:type]) ? STYLESHEET : SandboxPlaceholderAssets.path(name)
      { 'file' => file, 'imports' => [], 'css' => [] }
    end

    def resolve_virtual_entry(name)
      super
    rescue KeyError, Errno::ENOENT
      name
    end
  end

  # 4.3: Webpacker 5 (lib/webpacker/helper_extensions.rb asks for [src, integrity] with_integrity).
  module Webpacker
    def lookup!(name, pack_type = {})
      found = lookup(name, pack_type)
      return found if found

      path = SandboxPlaceholderAssets.stylesheet?(name, pack_type[:type]) ? STYLESHEET : SandboxPlaceholderAssets.path(name)
      pack_type[:with_integrity] ? [path, nil] : path
    end
  end
end

ViteRuby::Manifest.prepend(SandboxPlaceholderAssets::Vite) if defined?(ViteRuby::Manifest)
Webpacker::Manifest.prepend(SandboxPlaceholderAssets::Webpacker) if defined?(Webpacker::Manifest)
