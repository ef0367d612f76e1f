"""Mastodon's routes as data and the contract table's coverage of them: the reader of the Rails routing DSL
(sandbox/contract/routes/extract.py), the lists it made, which list a server is compared with, routes
compared by shape, and the coverage by API area the report prints (sandbox/contract/coverage.py)."""

from __future__ import annotations

import re

import pytest

from mastodon_sandbox.contract import coverage as cov_module
from mastodon_sandbox.contract.coverage import (
    OUT_OF_SCOPE,
    area_of,
    by_area,
    coverage,
    lines,
    out_of_scope,
)
from mastodon_sandbox.contract.endpoints import ENDPOINTS
from mastodon_sandbox.contract.routes import HERE, Route, find, fits, release_for, releases, routes_of, shape
from mastodon_sandbox.contract.routes.extract import draw, render, sort_key
from mastodon_sandbox.contract.versions import parse_version


def routes(text: str, include=None) -> set[str]:
    return {f"{m} {p}" for m, p in draw(text, include=include).routes}


# --- the reader of the routing DSL --------------------------------------------------------------------------

def test_namespace_scope_and_plain_verbs():
    text = """
    namespace :api, format: false do
      get '/oembed', to: 'oembed#show', as: :oembed   # a comment
      scope :v1_alpha, as: :v1_alpha, module: :v1 do
        get :ping
      end
      namespace :v1 do
        scope module: :accounts do
          post :ping, to: 'x#y'
        end
        namespace :accounts do
          get :verify_credentials, to: 'credentials#show'
          patch :update_credentials, to: 'credentials#update'
        end
        put 'a/b'; delete 'c'
        scope path: 'deep' do
          get 'x'
        end
      end
    end
    """
    assert routes(text) == {
        "GET /api/oembed", "GET /api/v1_alpha/ping", "POST /api/v1/ping",
        "GET /api/v1/accounts/verify_credentials", "PATCH /api/v1/accounts/update_credentials",
        "PUT /api/v1/a/b", "DELETE /api/v1/c", "GET /api/v1/deep/x",
    }


def test_resources_and_their_actions():
    text = """
    resources :lists, only: [:index, :create, :show, :update, :destroy]
    resources :media, except: [:index, :new, :edit]
    resources :photos
    resources :notifications, param: :group_key, only: :show
    resources :preview_card_providers, only: [:index], path: :publishers
    resource :instance, only: [:show]
    resource :domain_blocks, only: %i[show create destroy]
    resource :profile
    """
    assert routes(text) == {
        "GET /lists", "POST /lists", "GET /lists/:id", "PATCH /lists/:id", "PUT /lists/:id", "DELETE /lists/:id",
        "POST /media", "GET /media/:id", "PATCH /media/:id", "PUT /media/:id", "DELETE /media/:id",
        "GET /photos", "POST /photos", "GET /photos/new", "GET /photos/:id/edit", "GET /photos/:id",
        "PATCH /photos/:id", "PUT /photos/:id", "DELETE /photos/:id",
        "GET /notifications/:group_key", "GET /publishers", "GET /instance",
        "GET /domain_blocks", "POST /domain_blocks", "DELETE /domain_blocks",
        "POST /profile", "GET /profile/new", "GET /profile", "GET /profile/edit", "PATCH /profile", "PUT /profile",
        "DELETE /profile",
    }


def test_nesting_member_collection_and_verbs_inside_a_resource():
    text = """
    resources :statuses, only: [:show] do
      scope module: :statuses do
        resources :reblogged_by, only: :index
        resource :reblog, only: :create
        post :unreblog, to: 'reblogs#destroy'
        resources :quotes, only: :index do
          member do
            post :revoke
          end
        end
      end
      member do
        get :context
        put :update
      end
    end
    resources :notifications, param: :group_key, only: [] do
      collection do
        post :clear
        get 'unread_count'
      end
      resources :accounts, only: [:index], module: :notifications
      get :extra, on: :member
    end
    resource :instance, only: [] do
      resources :peers, only: [:index]
      get :rules
    end
    resources :lists, only: [] do
      resource :accounts, only: [:show], module: :lists
      namespace :admin do
        get :x
      end
    end
    resources :backups, only: [] do
      member { get :download, format: false }
    end
    """
    assert routes(text) == {
        "GET /statuses/:id", "GET /statuses/:status_id/reblogged_by", "POST /statuses/:status_id/reblog",
        "POST /statuses/:status_id/unreblog", "GET /statuses/:status_id/quotes",
        "POST /statuses/:status_id/quotes/:id/revoke",
        "GET /statuses/:id/context", "PUT /statuses/:id",  # `put :update` in a member: a canonical action
        "POST /notifications/clear", "GET /notifications/unread_count",
        "GET /notifications/:notification_group_key/accounts", "GET /notifications/:group_key/extra",
        "GET /instance/peers", "GET /instance/rules",
        "GET /lists/:list_id/accounts", "GET /lists/:list_id/admin/x", "GET /backups/:id/download",
    }


def test_concerns_with_options_match_and_optional_segments():
    text = """
    namespace :trends do
      concern :approvable do
        member do
          post :approve
        end
      end
      with_options only: [:index], concerns: :approvable do
        resources :tags
        resources :links, only: [:index, :show]
      end
    end
    with_options to: 'streaming#index' do
      get '/streaming'
      get '/streaming/(*any)'
    end
    namespace :oauth do
      match 'userinfo', via: [:get, :post], to: 'userinfo#show', defaults: { format: 'json' }
    end
    scope path: '.well-known' do
      scope module: :well_known do
        get 'nodeinfo', to: 'node_info#index', as: :nodeinfo, defaults: { format: 'json' }
      end
    end
    constraints(username: %r{[^@/.]+}) do
      get '/@:username/media', to: 'accounts#show'
    end
    get '/:encoded_path', to: redirect { |params|
      "/#{params[:encoded_path].gsub('%40', '@')}"
    }
    """
    assert routes(text) == {
        "GET /trends/tags", "POST /trends/tags/:id/approve",
        "GET /trends/links", "GET /trends/links/:id", "POST /trends/links/:id/approve",
        "GET /streaming", "GET /streaming/*any",
        "GET /oauth/userinfo", "POST /oauth/userinfo", "GET /.well-known/nodeinfo",
        "GET /@:username/media", "GET /:encoded_path",
    }


def test_use_doorkeeper_draws_doorkeepers_routes_and_draw_reads_a_file_when_given():
    drawn = routes("use_doorkeeper do\n  controllers tokens: 'oauth/tokens'\nend\ndraw(:api)\n",
                   include=lambda name: "namespace :api do\n get :x\nend\n" if name == "api" else None)
    assert {"POST /oauth/token", "POST /oauth/revoke", "POST /oauth/introspect", "GET /oauth/token/info",
            "GET /oauth/authorize", "POST /oauth/authorize", "DELETE /oauth/authorize", "GET /oauth/authorize/native",
            "GET /oauth/authorized_applications", "DELETE /oauth/authorized_applications/:id",
            "GET /oauth/applications/new", "GET /api/x"} <= drawn


def test_what_the_reader_does_not_understand_it_lists_and_does_not_guess():
    text = """
    Rails.application.routes.draw do
      mount LetterOpenerWeb::Engine, at: 'letter_opener' if Rails.env.development?
      get 'debug', to: 'd#s' if Rails.env.development?
      paths = %w(/a /b).freeze
      paths.each do |path|
        get path, to: 'home#index'
      end
      resources :shallow_ones, shallow: true
      if ENV['X']
        get 'maybe'
      end
      get 'kept'
    end
    """
    found = draw(text, "routes.rb")
    assert {f"{m} {p}" for m, p in found.routes} == {"GET /kept"}
    assert [(u.line, u.why.split(" ")[0]) for u in found.unhandled] == [(4, "a"), (6, "`paths.each`"), (9, "`shallow:`"), (10, "a")]


def test_a_real_excerpt_of_api_rb_read_by_hand():
    """Mastodon 4.6.5's config/routes/api.rb, v2 notifications: the routes `bin/rails routes` lists for it."""
    text = """
    namespace :api, format: false do
      namespace :v2 do
        namespace :notifications do
          resource :policy, only: [:show, :update]
        end

        resources :notifications, param: :group_key, only: [:index, :show] do
          collection do
            post :clear
            get :unread_count
          end

          member do
            post :dismiss
          end

          resources :accounts, only: [:index], module: :notifications
        end
      end
    end
    """
    assert routes(text) == {
        "GET /api/v2/notifications/policy", "PATCH /api/v2/notifications/policy", "PUT /api/v2/notifications/policy",
        "GET /api/v2/notifications", "GET /api/v2/notifications/:group_key", "POST /api/v2/notifications/clear",
        "GET /api/v2/notifications/unread_count", "POST /api/v2/notifications/:group_key/dismiss",
        "GET /api/v2/notifications/:notification_group_key/accounts",
    }


# --- the lists ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["4.6.5", "4.3.23"])
def test_the_lists_ship_for_both_releases_one_sorted_route_a_line(version):
    path = HERE / f"mastodon-{version}.txt"
    text = path.read_text()
    listed = routes_of(version)
    assert len(listed) > 250 and len(set(listed)) == len(listed)
    assert all(r.method in ("GET", "POST", "PUT", "PATCH", "DELETE") and re.fullmatch(r"/[\w/.:*-]*", r.path) for r in listed)
    assert text == render(version, {(r.method, r.path) for r in listed})  # sorted as the extractor writes them
    assert [(r.method, r.path) for r in listed] == sorted(((r.method, r.path) for r in listed), key=sort_key)
    assert {"GET /api/v1/statuses/:id", "POST /oauth/token", "GET /.well-known/webfinger", "GET /nodeinfo/2.0"} <= {str(r) for r in listed}


def test_releases_differ_as_their_api_rb_does():
    new, old = {str(r) for r in routes_of("4.6.5")}, {str(r) for r in routes_of("4.3.23")}
    assert "GET /api/v1/statuses/:status_id/quotes" in new - old
    assert "GET /oauth/userinfo" in new - old
    assert "POST /api/v1/polls" in old - new  # polls lost `create` after 4.3
    assert "GET /api/v1/statuses/:id/context" in old and "GET /api/v1/statuses/:status_id/context" in new


def test_every_row_of_the_contract_table_is_a_route_of_4_6_5():
    """A row naming no route of Mastodon 4.6.5 is a typo (or a route 4.6 dropped, which the table must say)."""
    listed = routes_of("4.6.5")
    missing = [f"{m} {t}" for m, t in ENDPOINTS if find(m, t, listed) is None]
    assert not missing, missing


def test_every_out_of_scope_entry_names_a_route():
    listed = [str(r) for release in ("4.6.5", "4.3.23") for r in routes_of(release)]
    for pattern, why in OUT_OF_SCOPE:
        assert any(out_of_scope(r) == why for r in listed), pattern


# --- which list, and routes by shape ------------------------------------------------------------------------

@pytest.mark.parametrize("server, release", [
    ("4.3.0", "4.3.23"), ("4.3.24", "4.3.23"), ("4.2.10", "4.3.23"),
    ("4.4.0", "4.6.5"), ("4.5.15", "4.6.5"), ("4.6.5", "4.6.5"), ("4.6.5+standin", "4.6.5"),
    ("4.7.0-alpha.2", "4.6.5"), ("5.0.0", "4.6.5"),
])
def test_a_server_is_compared_with_its_series_list_or_the_next_one(server, release):
    assert str(release_for(server)) == release
    assert [str(v) for v in releases()] == ["4.3.23", "4.6.5"]


def test_routes_compare_by_shape():
    assert shape("/api/v1/statuses/:status_id/quotes/:id/revoke/") == "/api/v1/statuses/:/quotes/:/revoke"
    assert shape("/api/v1/streaming/*any") == "/api/v1/streaming/*"
    assert fits("/api/v1/timelines/tag/:hashtag", "/api/v1/timelines/tag/:id")
    assert not fits("/api/v1/accounts/lookup", "/api/v1/accounts/:id")  # a literal is no parameter
    assert fits("/api/v1/streaming/user/notification", "/api/v1/streaming/*any")
    assert not fits("/api/v1/streaming", "/api/v1/streaming/*any")
    listed = (Route("GET", "/api/v1/accounts/:id"), Route("GET", "/api/v1/accounts/lookup"), Route("GET", "/s/*any"))
    assert find("get", "/api/v1/accounts/:account_id", listed) == listed[0]
    assert find("GET", "/api/v1/accounts/lookup", listed) == listed[1]
    assert find("GET", "/s/user", listed) == listed[2]
    assert find("POST", "/api/v1/accounts/:id", listed) is None


@pytest.mark.parametrize("path, area", [
    ("/api/v1/statuses/:status_id/context", "statuses"), ("/api/v1/admin/trends/links", "admin"),
    ("/api/v2/admin/accounts", "admin"), ("/api/v2/filters/keywords/:id", "filters"), ("/api/v2/search", "search"),
    ("/api/v1/blocks", "accounts"), ("/api/v1/bookmarks", "timelines"), ("/api/oembed", "discovery"),
    ("/.well-known/webfinger", "discovery"), ("/nodeinfo/2.0", "discovery"), ("/oauth/token", "oauth"),
    ("/api/v1/apps", "oauth"), ("/api/v1/streaming", "streaming"), ("/api/v1_alpha/async_refreshes/:id", "async_refreshes"),
    ("/api/web/settings", "web"),
])
def test_api_areas_come_from_the_path(path, area):
    assert area_of(path) == area


# --- coverage -----------------------------------------------------------------------------------------------

TINY = tuple(Route.parse(r) for r in (
    "GET /api/v1/lists/:id", "PUT /api/v1/lists/:id", "PATCH /api/v1/lists/:id", "DELETE /api/v1/lists/:id",
    "GET /api/v1/statuses/:id", "GET /api/v1/statuses/:status_id/context", "GET /api/v1/streaming",
    "GET /api/v1/streaming/*any", "PUT /api/web/settings", "POST /oauth/token", "GET /.well-known/host-meta",
))
TABLE = [("GET", "/api/v1/lists/:id"), ("PUT", "/api/v1/lists/:id"), ("GET", "/api/v1/statuses/:id"),
         ("GET", "/api/v1/statuses/:id/context"), ("GET", "/api/v1/statuses/:id/quotes"), ("POST", "/oauth/token")]


def test_coverage_of_a_tiny_table():
    cov = coverage("4.6.5", TABLE, routes=TINY)
    assert [str(r) for r in cov.rows] == ["GET /api/v1/lists/:id", "PUT /api/v1/lists/:id", "GET /api/v1/statuses/:id",
                                         "GET /api/v1/statuses/:status_id/context", "POST /oauth/token",
                                         "GET /api/v1/streaming", "PATCH /api/v1/lists/:id"]
    assert cov.rows[Route("PATCH", "/api/v1/lists/:id")] == ["the same update action as PUT /api/v1/lists/:id"]
    assert {str(r) for r in cov.out} == {"GET /api/v1/streaming/*any", "PUT /api/web/settings"}
    assert [str(r) for r in cov.not_covered] == ["DELETE /api/v1/lists/:id", "GET /.well-known/host-meta"]
    assert cov.not_offered == ["GET /api/v1/statuses/:id/quotes"]
    assert cov.counts() == (6, 9, 2) and cov.counts(api_rb=False) == (1, 2, 0)
    assert cov.total() == ("covered 6 of 9 routes of Mastodon 4.6.5's config/routes/api.rb (2 out of scope); "
                           "1 of 2 of its config/routes.rb's /oauth, /.well-known, /nodeinfo (0 out of scope)")


def test_the_coverage_by_area_of_a_run():
    cov = coverage("4.6.5", TABLE, routes=TINY)
    checked = {"PUT /api/v1/lists/:id", "GET /api/v1/streaming", "DELETE /api/v1/scheduled_statuses/:id"}
    skips = {"capability: anonymous API access: 401": {"GET /api/v1/statuses/:id", "PUT /api/v1/lists/:id"},
             "Mastodon 4.3.23 has no GET /api/v1/statuses/:id/quotes": {"GET /api/v1/statuses/:id/quotes"}}
    areas = {a.name: a for a in by_area(cov, checked, skips)}
    lists = areas["lists"]
    assert lists.checked == ["PUT /api/v1/lists/:id", "PATCH /api/v1/lists/:id"]  # one update action
    assert lists.not_run == ["GET /api/v1/lists/:id"] and lists.not_covered == ["DELETE /api/v1/lists/:id"]
    statuses = areas["statuses"]
    assert statuses.skipped == {"GET /api/v1/statuses/:id": ["capability: anonymous API access: 401"]}
    assert statuses.not_offered == ["GET /api/v1/statuses/:id/quotes"]
    assert statuses.not_run == ["GET /api/v1/statuses/:status_id/context"]
    # a body checked of a path in neither the list nor the table (the client named its entity) still counts
    assert statuses.checked == ["DELETE /api/v1/scheduled_statuses/:id"]
    assert areas["streaming"].checked == ["GET /api/v1/streaming"] and list(areas["streaming"].out_of_scope) == ["GET /api/v1/streaming/*any"]
    assert areas["oauth"].not_run == ["POST /oauth/token"] and areas["discovery"].not_covered == ["GET /.well-known/host-meta"]
    printed = lines(cov, list(areas.values()), server_version="4.5.2")
    assert printed[0] == "coverage by API area (routes of Mastodon 4.6.5; the server runs 4.5.2, compared with the nearest list, 4.6.5's):"
    assert "  lists: 2 checked, 1 not run, 1 not covered" in printed
    assert "  statuses: 1 checked, 1 skipped, 1 not run, 1 not offered by the server" in printed
    assert "    skipped GET /api/v1/statuses/:id: capability: anonymous API access: 401" in printed
    assert "    not offered by Mastodon 4.6.5: GET /api/v1/statuses/:id/quotes" in printed
    assert printed[-1] == cov.total()
    assert lines(cov, [], server_version="4.6.5+standin")[0] == "coverage by API area (routes of Mastodon 4.6.5):"
    saved = cov_module.to_json(cov, list(areas.values()), "4.5.2")
    assert saved["api_rb"] == {"covered": 6, "routes": 9, "out_of_scope": 2} and saved["release"] == "4.6.5"
    assert saved["areas"]["statuses"]["skipped"] == {"GET /api/v1/statuses/:id": ["capability: anonymous API access: 401"]}


def test_the_real_table_against_both_releases():
    new, old = coverage("4.6.5"), coverage("4.3.23")
    assert not new.not_offered
    assert "GET /api/v1/statuses/:id/quotes" in old.not_offered and "GET /oauth/userinfo" in old.not_offered
    for cov in (new, old):
        covered, total, out = cov.counts()
        assert 0 < covered <= total - out
    assert str(parse_version("4.6.5")) in new.total()
