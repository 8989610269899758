"""IRC. Pure: `parse` (lines in → typed `Message`), `lines` (lines out, budgets, split), `names`
(casemapping, masks), `protocol` (session config in, actions out), `session` (the state machine: one
dispatch table) with its parts `caps`, `sasl`, `nick`, `membership`, `accounts`, `keepalive`; `flood`
(token bucket, priority queue) and `router` (commands). Not pure: `client` (the asyncio connection),
`outgoing` (the paced writer and delivery confirmations), `transport` (settings, TLS). The sink is
`bot.sinks.irc`; settings are read by `bot.irc.config`."""
