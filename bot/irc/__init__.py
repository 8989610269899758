"""IRC: a pure session core (`protocol`), flood control (`flood`), line budgets (`split`), command routing
(`router`), and the asyncio connection that only moves bytes (`client`). The sink is `bot.sinks.irc`."""
