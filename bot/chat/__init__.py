"""Chat platforms beyond IRC: the Matrix client-server protocol (pure part and HTTP part), and later
Discord and Mastodon helpers. Sinks in `bot.sinks` use them."""
