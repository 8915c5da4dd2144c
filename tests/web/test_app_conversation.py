"""The chat in headless Chromium: a follow-up answered from the conversation, shown discreetly; "Clear chat" starts anew."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import qa
from qa.documents.ingest import default_documents
from tests.web.test_app import ARTIFACTS, Server, Watched, ask, bot_messages, start_app, stop_app
from tests.web.test_app import browser, watched  # noqa: F401 - its fixtures

JET = "When will the new fighter jet be airborne?"
WHO = "And who is building it?"
ITALY = "Italy and Britain"


@pytest.fixture(scope="module")
def jet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    index = tmp_path_factory.mktemp("app-conversation") / "index"
    qa.build_index(default_documents(), index)
    server = start_app(index, tmp_path_factory.mktemp("app-conversation-log") / "app.log")
    yield server
    stop_app(server)


@pytest.mark.browser
def test_who_is_building_it_follows_up_in_the_browser(jet_server: Server, watched: Watched) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page = watched.page
    page.goto(jet_server.url)
    ask(page, JET)
    first = bot_messages(page).nth(0)
    expect(first.locator(".qa-answer")).to_contain_text("2035", timeout=30000)
    expect(first.locator(".qa-followup")).to_have_count(0)
    ask(page, WHO)
    follow = bot_messages(page).nth(1)
    expect(follow.locator(".qa-answer, .qa-unconfirmed")).to_contain_text(ITALY, timeout=30000)  # the same tiers
    expect(follow.locator(".qa-followup")).to_have_text(f"following up on: \u201c{JET}\u201d")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "follow_up.png"), full_page=True)

    page.locator("#clear-chat").click()
    expect(bot_messages(page)).to_have_count(0, timeout=30000)
    ask(page, WHO)
    fresh = bot_messages(page).nth(0)
    expect(fresh).not_to_have_text("", timeout=30000)
    expect(fresh.locator(".qa-followup")).to_have_count(0)
    assert watched.dialogs == [] and watched.errors == []
