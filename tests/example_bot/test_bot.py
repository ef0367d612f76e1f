from tests.example_bot.bot import EchoBot


def test_the_bot_greets(mastodon_account, mastodon_client_for):
    bot = EchoBot(mastodon_client_for(mastodon_account))
    greeting = bot.greet()
    assert greeting["visibility"] == "unlisted"
    assert greeting["account"]["username"] == mastodon_account.username


def test_the_bot_answers_a_mention_it_hears_on_its_stream(mastodon_accounts, mastodon_client_for, mastodon_stream):
    bot_account, fan = mastodon_accounts(2)
    bot = EchoBot(mastodon_client_for(bot_account))
    stream = mastodon_stream(bot_account)        # the bot's user stream, open before anyone acts
    fan_api = mastodon_client_for(fan)
    asked = fan_api.status_post(f"@{bot_account.username} ping")

    notification = stream.wait("notification", match=lambda n: n["type"] == "mention", timeout=30)
    reply = bot.answer(notification)

    assert reply["in_reply_to_id"] == asked["id"]
    assert fan_api.status_context(asked["id"])["descendants"][0]["content"].endswith("echo: ping</p>")
