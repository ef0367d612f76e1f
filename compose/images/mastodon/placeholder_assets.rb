# frozen_string_literal: true

# mastodon-sandbox: placeholder front-end assets for Mastodon built from source.
#
# The official image precompiles the web front end; where no container registry is reachable, some of
# its npm packages cannot be had (4.6: @formatjs/unplugin, emoji-mart-lazyload), so this build skips
# it. Every HTML page still renders (sign-in, authorization, settings) with its real forms, and the API,
# streaming and Sidekiq are untouched; asset URLs under /packs/stub/ answer 404. This file is the one
# difference from the official image.
module SandboxPlaceholderAssets
  def self.path(name)
    "/packs/stub/#{name}"
  end

  # 4.4+: vite_ruby (lib/vite_ruby/sri_extensions.rb looks entries up by name in the manifest).
  module Vite
    def lookup!(name, **options)
      lookup(name, **options) || { 'file' => SandboxPlaceholderAssets.path(name), 'imports' => [], 'css' => [] }
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

      pack_type[:with_integrity] ? [SandboxPlaceholderAssets.path(name), nil] : SandboxPlaceholderAssets.path(name)
    end
  end
end

ViteRuby::Manifest.prepend(SandboxPlaceholderAssets::Vite) if defined?(ViteRuby::Manifest)
Webpacker::Manifest.prepend(SandboxPlaceholderAssets::Webpacker) if defined?(Webpacker::Manifest)
