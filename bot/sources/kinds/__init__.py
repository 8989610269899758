"""One module per source kind; the registry that maps `kind` to them is `bot.sources`."""
